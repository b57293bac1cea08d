"""A seeded generator of hostile variations of every sample event (issue 19).

Hypothesis shrinks and explores one event well; this is the other half: a fixed,
reproducible population (`variations(2000)` is the same 2,000 events on every machine)
spread evenly over every sample in `events/samples/` and every kind of hostility a
reviewer threw at the entry points: deep nesting, dates at the ends of the calendar or
impossible, huge strings, NaN/Infinity, wildcards, duplicates, wrong types, and
alarms or devices that do not exist. Pure: no pipeline, no I/O beyond reading samples.
"""

from __future__ import annotations

import copy
import random
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from tests.helpers import SAMPLES, load_event

#: The seed of the population; change it only with the figures in the README.
SEED = 19_2000
KINDS = (
    "deep",
    "far_date",
    "huge",
    "non_finite",
    "wildcard",
    "duplicate",
    "wrong_type",
    "unknown_target",
)
#: Depths from just over the bound to far past every recursive walker (Python's 1,000).
DEPTHS = (17, 40, 200, 900, 1_500, 5_000)
FAR_DATES = (
    "9999-12-31T23:59:59Z",
    "9999-12-31T23:59:59.999+0000",
    "0001-01-01T00:00:00Z",
    "0001-01-01T00:00:00+00:00",
    "2026-13-45T25:61:61Z",  # no such day: parses as a timestamp, is none
    "0000-01-01T00:00:00Z",
    "(31/12/99 23:59:59)",  # CloudWatch's reason format, shifted by rebase too
)
#: Over and under EventBridge's 256 KB, in ASCII and in multi-byte UTF-8.
HUGE = ("x" * 100_000, "x" * 300_000, "é" * 140_000, "\u200b" * 90_000)
NON_FINITE = (float("nan"), float("inf"), float("-inf"))
WILDCARDS = ("*", "#", "+", "all", "*-errors", "edge-*", "", " ")
WRONG_TYPES: tuple[Any, ...] = (None, True, 0, -1, 2**70, 3.5, [], {}, [1, "a"], {"k": None})
#: Fields that name the thing an event is about: the alarm, the edge, its site.
TARGET_FIELDS = ("alarmName", "edgeId", "siteId")
_TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}")


@dataclass(frozen=True)
class Variation:
    """One hostile event: `deliveries` > 1 is the same event delivered again."""

    n: int
    sample: str
    kind: str
    path: tuple[Any, ...]
    event: dict[str, Any]
    deliveries: int = 1

    @property
    def label(self) -> str:
        where = ".".join(str(p) for p in self.path) or "<event>"
        return f"#{self.n} {self.sample} {self.kind} at {where}"


def samples() -> dict[str, dict[str, Any]]:
    return {p.name.removesuffix(".json"): load_event(p) for p in sorted(SAMPLES.glob("*.json"))}


def leaf_paths(node: Any) -> list[tuple[Any, ...]]:
    """Every path to a value in `node` (iteratively, in document order)."""
    out: list[tuple[Any, ...]] = []
    todo: list[tuple[tuple[Any, ...], Any]] = [((), node)]
    while todo:
        prefix, value = todo.pop(0)
        if prefix:
            out.append(prefix)
        if isinstance(value, dict):
            todo += [((*prefix, k), v) for k, v in value.items()]
        elif isinstance(value, list):
            todo += [((*prefix, i), v) for i, v in enumerate(value)]
    return out


def _get(event: Any, path: tuple[Any, ...]) -> Any:
    for key in path:
        event = event[key]
    return event


def _put(event: dict[str, Any], path: tuple[Any, ...], value: Any) -> None:
    _get(event, path[:-1])[path[-1]] = value


def nested(depth: int, rng: random.Random) -> Any:
    """A value `depth` containers deep, dicts and lists mixed."""
    node: Any = "bottom"
    for _ in range(depth):
        node = {"x": node} if rng.random() < 0.5 else [node]
    return node


def _mutate(kind: str, event: dict[str, Any], rng: random.Random) -> tuple[tuple[Any, ...], int]:
    paths = leaf_paths(event)
    strings = [p for p in paths if isinstance(_get(event, p), str)]
    if kind == "deep":
        path = rng.choice(paths)
        _put(event, path, nested(rng.choice(DEPTHS), rng))
    elif kind == "far_date":
        dates = [p for p in strings if _TIMESTAMP.match(_get(event, p))] or [("time",)]
        path = rng.choice([("time",), *dates])
        _put(event, path, rng.choice(FAR_DATES))
    elif kind == "huge":
        path = rng.choice(strings)
        _put(event, path, rng.choice(HUGE))
    elif kind == "non_finite":
        path = rng.choice(paths)
        _put(event, path, rng.choice(NON_FINITE))
    elif kind == "wildcard":
        named = [p for p in strings if p[-1] in TARGET_FIELDS or "dimensions" in p]
        path = rng.choice(named or strings)
        _put(event, path, rng.choice(WILDCARDS))
    elif kind == "duplicate":
        lists = [p for p in paths if isinstance(_get(event, p), list) and _get(event, p)]
        path = rng.choice(lists) if lists and rng.random() < 0.5 else ()
        if path:
            items = _get(event, path)
            items += copy.deepcopy(items)
        return path, 2
    elif kind == "wrong_type":
        path = rng.choice(paths)
        _put(event, path, copy.deepcopy(rng.choice(WRONG_TYPES)))
    elif kind == "unknown_target":
        named = [p for p in strings if p[-1] in TARGET_FIELDS] or strings
        path = rng.choice(named)
        _put(event, path, f"ghost-{rng.randrange(10**6)}")
    else:
        raise ValueError(f"unknown kind {kind!r}")
    return path, 1


def variations(count: int = 2_000, seed: int = SEED) -> Iterator[Variation]:
    """`count` variations, the same ones for the same seed: sample n mod S and kind (n div S)
    mod K, so every sample meets every kind within S x K variations whatever the number of
    samples; the path and value drawn from the seed."""
    rng = random.Random(seed)
    originals = samples()
    names = sorted(originals)
    for n in range(count):
        name, kind = names[n % len(names)], KINDS[(n // len(names)) % len(KINDS)]
        event = copy.deepcopy(originals[name])
        path, deliveries = _mutate(kind, event, rng)
        yield Variation(n, name, kind, path, event, deliveries)
