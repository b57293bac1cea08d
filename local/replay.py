"""Saved events placed on the virtual timeline.

A sample event carries the times it was captured at (`time`, the alarm's state
timestamps, an edge's `at`). Replayed as they are, "offline since" would be days before
the virtual clock, and grow with the calendar. `rebase` shifts every timestamp in the
event by one delta, so it happened at `now` and its own offsets are kept.

A hostile event must not crash the replay (issue 19): the walk is iterative (an event nested
5,000 deep is copied like any other), and a date that cannot be moved (month 13, or year
9999 plus the delta) is left as it is, as is a whole event whose `time` is out of
`input_bounds`' window. The workflow's first state then refuses it, naming the field.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from selfheal_shared.core import input_bounds

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
    try:
        at = _parse(match) + delta
    except (ValueError, OverflowError):  # no such date, or past the calendar's ends
        return match[0]
    text = f"{at.year:04d}-{at:%m-%dT%H:%M:%S}"  # %Y does not pad years before 1000
    if frac := match["frac"]:
        digits = len(frac) - 1
        text += "." + f"{at.microsecond:06d}".ljust(digits, "0")[:digits]
    return text + match["off"]


def _shift_cloudwatch(match: re.Match[str], delta: timedelta) -> str:
    try:
        at = datetime.strptime(match[1], "%d/%m/%y %H:%M:%S") + delta
    except (ValueError, OverflowError):
        return match[0]
    return f"({at:%d/%m/%y %H:%M:%S})"


def _shift_text(text: str, delta: timedelta) -> str:
    text = _ISO.sub(lambda m: _shift_iso(m, delta), text)
    return _CLOUDWATCH.sub(lambda m: _shift_cloudwatch(m, delta), text)


def _shift(value: Any, delta: timedelta) -> Any:
    """A copy of `value` with every date in its strings moved by `delta`, built without
    recursion (parents are created before their children, so key order is kept)."""
    holder: list[Any] = [None]
    todo: list[tuple[Any, Any, Any]] = [(value, holder, 0)]
    while todo:
        node, parent, key = todo.pop()
        if isinstance(node, dict):
            parent[key] = mapping = dict.fromkeys(node)
            todo += [(v, mapping, k) for k, v in node.items()]
        elif isinstance(node, list):
            parent[key] = items = [None] * len(node)
            todo += [(v, items, n) for n, v in enumerate(node)]
        else:
            parent[key] = _shift_text(node, delta) if isinstance(node, str) else node
    return holder[0]


def rebase(event: dict[str, Any], now: datetime) -> dict[str, Any]:
    """A copy of `event` that happened at `now`: every timestamp in it (also inside text,
    such as an alarm's `reasonData`) moved by `now - event["time"]`. An event without a
    usable `time` (none, not a date, out of `input_bounds`' window) is copied as it is.
    Never raises."""
    stamp = event.get("time")
    usable = isinstance(stamp, str) and input_bounds.date_problem(stamp) is None
    match = _ISO.fullmatch(stamp) if usable and isinstance(stamp, str) else None
    delta = now - _parse(match) if match is not None else timedelta(0)
    return _shift(event, delta)  # type: ignore[no-any-return]
