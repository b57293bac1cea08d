"""The bounds every input meets where it enters selfheal, in one place.

Two doors take outside JSON: the edge's MQTT messages (`edge_ingress`) and a workflow's
execution input (its first state, `Claim`, in every workflow). Past them the steps assume a
bounded input, so the bounds are checked there, in the layer, and hold in AWS as locally:

- nesting: `MAX_DEPTH` levels. Deeper JSON is no event selfheal knows, and it exhausts the
  recursive walkers on its way (a parser, a deep copy, a JSONPath).
- size: `MAX_INPUT_BYTES`. Step Functions fails a state whose input or output is over
  256 KB with `States.DataLimitExceeded`, which no Catch takes (not even `States.ALL`): an
  input must leave the workflow room for what it adds (results, a caught error's cause).
- dates: a field that is a timestamp is a real date between `EARLIEST` and `LATEST`. Year
  9999 is a valid ISO date that overflows the first time a step adds a duration to it.
- numbers: finite. NaN and Infinity are not JSON; only a Python caller can send them.

A refusal is an `InputInvalid` that names the field (`detail.state.timestamp`) with an
excerpt of the value; the walk is iterative, so the check itself cannot overflow.
"""

from __future__ import annotations

import json
import math
import re
from datetime import UTC, datetime
from typing import Any

from .errors import InputInvalid, bounded, excerpt

#: Deeper JSON than this is not an event, an edge message or a manual input of selfheal's
#: (the deepest sample, an alarm's metric dimensions, is 8).
MAX_DEPTH = 16
#: Step Functions' payload limit for a state's input or output (262,144 UTF-8 bytes).
STATE_PAYLOAD_BYTES = 256 * 1024
#: Half of it: the rest is the workflow's room for results and a caught error.
MAX_INPUT_BYTES = STATE_PAYLOAD_BYTES // 2
#: The Unix epoch: DynamoDB TTLs and the epoch seconds steps compute cannot go before it.
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
#: Far past any clock selfheal runs on, and far enough from the calendar's end (9999) that
#: no shift between two dates in the window (what `replay` applies) can overflow.
LATEST = datetime(2999, 12, 31, 23, 59, 59, tzinfo=UTC)
#: A string that is a date: `2026-11-20`, `2026-11-20T05:00:00`, with fraction and offset.
TIMESTAMP = re.compile(r"\d{4}-\d{2}-\d{2}(?:T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:?\d{2})?)?")
_KEY_CHARS = 40


def depth(value: Any, limit: int = MAX_DEPTH) -> int:
    """How deep `value`'s containers nest (a scalar is 0, `{}` is 1), counted without
    recursion and no further than `limit + 1`."""
    deepest, todo = 0, [(value, 1)]
    while todo:
        item, level = todo.pop()
        if isinstance(item, dict | list):
            deepest = max(deepest, level)
            if level > limit:
                break
            todo += [(v, level + 1) for v in (item.values() if isinstance(item, dict) else item)]
    return deepest


def nesting_depth(text: str) -> int:
    """How deep the brackets of a JSON text go, without parsing it (strings skipped), so
    a hostile nesting is refused before a recursive parser sees it."""
    level = deepest = 0
    in_string = escaped = False
    for ch in text:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            level += 1
            deepest = max(deepest, level)
        elif ch in "]}":
            level -= 1
    return deepest


def parse_timestamp(text: str) -> datetime | None:
    """The instant a timestamp string names (naive ones read as UTC), or None when the
    string is no date at all (month 13, year 0). Never raises."""
    try:
        at = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


def date_problem(text: str) -> str | None:
    """Why a string that looks like a timestamp cannot be used as one (None: it can)."""
    if not TIMESTAMP.fullmatch(text):
        return None
    at = parse_timestamp(text)
    if at is None:
        return f"not a date (got {excerpt(text)})"
    try:
        in_range = EARLIEST <= at <= LATEST
    except OverflowError:  # an offset that pushes it past the calendar's ends
        in_range = False
    if not in_range:
        return (
            f"date out of range (got {excerpt(text)}; "
            f"from {EARLIEST:%Y-%m-%d} to {LATEST:%Y-%m-%d})"
        )
    return None


def _name(path: tuple[Any, ...]) -> str:
    parts = [str(p) if len(str(p)) <= _KEY_CHARS else excerpt(p, _KEY_CHARS) for p in path]
    return ".".join(parts) or "$"


def _value_problem(value: Any) -> str | None:
    if isinstance(value, float) and not math.isfinite(value):
        return f"{value} is not a JSON number"
    if isinstance(value, str):
        return date_problem(value)
    return None


def problem(value: Any) -> str | None:
    """`field: why` for the first field (in document order) out of bounds, or None."""
    todo: list[tuple[tuple[Any, ...], Any]] = [((), value)]
    while todo:
        path, item = todo.pop()
        if isinstance(item, dict | list):
            if len(path) >= MAX_DEPTH:
                return f"{_name(path)}: nested deeper than {MAX_DEPTH} levels"
            pairs = item.items() if isinstance(item, dict) else enumerate(item)
            todo += reversed([((*path, k), v) for k, v in pairs])
        elif (why := _value_problem(item)) is not None:
            return f"{_name(path)}: {why}"
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    size = len(text.encode(errors="surrogatepass"))
    if size > MAX_INPUT_BYTES:
        return f"$: {size} bytes is over the {MAX_INPUT_BYTES} byte limit"
    return None


def check(value: Any, what: str) -> None:
    """Raise `InputInvalid` (`invalid <what>: <field>: <why>`) when `value` is out of bounds."""
    found = problem(value)
    if found is not None:
        raise InputInvalid(bounded(f"invalid {what}: {found}"))
