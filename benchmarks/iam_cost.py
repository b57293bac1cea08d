"""What enforcing IAM locally costs: the same incidents replayed with every call checked
against its role and without the check (the only run without it), median wall seconds of
`n` runs each, interleaved so a busy machine loads both alike."""

from __future__ import annotations

import statistics
import time
from typing import Any

from local.runtime import Pipeline
from local.worlds import World

from .transitions import EVENTS, load, only, world

#: (workflow, sample, world part): one alarm-driven rollback and one freeze to its gate.
CASES = (
    ("rollback_on_5xx", "rollback_on_5xx.lambda_errors_alarm.json", "services"),
    ("freeze_ingestion", "freeze_ingestion.validation_failures_alarm.json", "ingestion"),
)


def _replay(workflow: str, sample: str, part: str, *, enforce: bool) -> tuple[float, int]:
    started = time.perf_counter()
    with Pipeline(world=World(world(keep=part)), spec=only({workflow}), enforce_iam=enforce) as p:
        # the freeze waits at its gate: kept frozen, it escalates and ends
        runs = p.run_event(load(EVENTS / "samples" / sample), gate_decision="keep_frozen")
        checked = len(p.iam.observed.calls) if p.iam is not None else 0
    if not runs or any(r["status"] not in ("SUCCEEDED", "FAILED") for r in runs):
        raise AssertionError(f"{workflow} did not finish: {runs}")
    return time.perf_counter() - started, checked


def measure(n: int = 3) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for workflow, sample, part in CASES:
        on: list[float] = []
        off: list[float] = []
        checked = 0
        for _ in range(n):
            wall, checked = _replay(workflow, sample, part, enforce=True)
            on.append(wall)
            off.append(_replay(workflow, sample, part, enforce=False)[0])
        out[workflow] = {
            "enforced_s": round(statistics.median(on), 2),
            "unenforced_s": round(statistics.median(off), 2),
            "ratio": round(statistics.median(on) / statistics.median(off), 3),
            "distinct_calls_checked": checked,
        }
    return out
