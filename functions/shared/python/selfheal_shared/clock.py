"""Time as remediators see it. Real UTC time in AWS; the local runtime installs a
virtual clock so a 60-minute ladder runs in seconds against the same code."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

_source: Callable[[], datetime] | None = None


def now() -> datetime:
    return _source() if _source is not None else datetime.now(UTC)


def install(source: Callable[[], datetime] | None) -> None:
    global _source
    _source = source
