"""Saved events placed on the virtual timeline.

A sample event carries the times it was captured at (`time`, the alarm's state
timestamps, an edge's `at`). Replayed as they are, "offline since" would be days before
the virtual clock, and grow with the calendar. `rebase` shifts every timestamp in the
event by one delta, so it happened at `now` and its own offsets are kept.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

_ISO = re.compile(
    r"(?P<base>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?P<frac>\.\d+)?(?P<off>Z|[+-]\d{2}:?\d{2})"
)
#: CloudWatch's reason text writes datapoint times as "(20/11/26 03:11:00)", in UTC.
_CLOUDWATCH = re.compile(r"\((\d{2}/\d{2}/\d{2} \d{2}:\d{2}:\d{2})\)")


def _offset(text: str) -> timezone:
    if text == "Z":
        return UTC
    sign = -1 if text[0] == "-" else 1
    digits = text[1:].replace(":", "")
    return timezone(sign * timedelta(hours=int(digits[:2]), minutes=int(digits[2:])))


def _parse(match: re.Match[str]) -> datetime:
    frac = (match["frac"] or "")[:7]
    return datetime.fromisoformat(match["base"] + frac).replace(tzinfo=_offset(match["off"]))


def _shift_iso(match: re.Match[str], delta: timedelta) -> str:
    at = _parse(match) + delta
    text = at.strftime("%Y-%m-%dT%H:%M:%S")
    if frac := match["frac"]:
        digits = len(frac) - 1
        text += "." + f"{at.microsecond:06d}".ljust(digits, "0")[:digits]
    return text + match["off"]


def _shift_cloudwatch(match: re.Match[str], delta: timedelta) -> str:
    at = datetime.strptime(match[1], "%d/%m/%y %H:%M:%S") + delta
    return f"({at:%d/%m/%y %H:%M:%S})"


def _shift(value: Any, delta: timedelta) -> Any:
    if isinstance(value, dict):
        return {k: _shift(v, delta) for k, v in value.items()}
    if isinstance(value, list):
        return [_shift(v, delta) for v in value]
    if isinstance(value, str):
        value = _ISO.sub(lambda m: _shift_iso(m, delta), value)
        return _CLOUDWATCH.sub(lambda m: _shift_cloudwatch(m, delta), value)
    return value


def rebase(event: dict[str, Any], now: datetime) -> dict[str, Any]:
    """A copy of `event` that happened at `now`: every timestamp in it (also inside text,
    such as an alarm's `reasonData`) moved by `now - event["time"]`. An event without a
    `time` is returned as it is."""
    match = _ISO.fullmatch(str(event.get("time", "")))
    if match is None:
        return dict(event)
    return _shift(event, now - _parse(match))  # type: ignore[no-any-return]
