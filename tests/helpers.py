"""Paths and loaders the tests share (plain functions: conftest.py is pytest's, not a
module to import from)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "events" / "samples"
NEAR_MISS = ROOT / "events" / "near_miss"
FIVE_XX = SAMPLES / "rollback_on_5xx.lambda_errors_alarm.json"


def load_event(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text())
    return data
