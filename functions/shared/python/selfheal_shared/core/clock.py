"""Time as remediators see it. Real UTC time in AWS; the local runtime installs a
virtual clock so a 60-minute ladder runs in seconds against the same code."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from datetime import UTC, datetime

_source: Callable[[], datetime] | None = None


_sequence = itertools.count()


def sequence() -> int:
    """A process-wide counter that orders records written within the same instant."""
    return next(_sequence)


def now() -> datetime:
    return _source() if _source is not None else datetime.now(UTC)


def install(source: Callable[[], datetime] | None) -> None:
    global _source
    _source = source


def aws_time(when: datetime) -> str:
    """`2026-11-20T05:14:58Z`, what a Wait state's TimestampPath takes: in UTC, whatever
    offset `when` carries (a naive time is taken as UTC)."""
    aware = when if when.tzinfo else when.replace(tzinfo=UTC)
    return aware.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_aws_time(text: str) -> datetime:
    """AWS writes timestamps several ways ("...+0000", "...Z", nanoseconds); read them all."""
    import re

    text = text.strip().replace("Z", "+00:00")
    text = re.sub(r"([+-]\d{2})(\d{2})$", r"\1:\2", text)
    text = re.sub(r"\.(\d{6})\d+", r".\1", text)
    parsed = datetime.fromisoformat(text)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
