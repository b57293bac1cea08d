"""The bounds every input meets where it enters (selfheal_shared/core/input_bounds.py): each
refusal names the field, the samples all pass, and the edge's MQTT door uses the same depth."""

from __future__ import annotations

import json
from typing import Any

import pytest
from selfheal_shared.core import input_bounds
from selfheal_shared.core.errors import InputInvalid
from selfheal_shared.edge import edges

from tests.helpers import FIVE_XX, SAMPLES, load_event


def _nested(depth: int) -> Any:
    node: Any = "bottom"
    for _ in range(depth - 1):
        node = {"x": node}
    return {"x": node} if depth else node


def test_every_sample_and_manual_input_is_within_bounds() -> None:
    paths = sorted(SAMPLES.glob("*.json")) + sorted((SAMPLES.parent / "manual").glob("*.json"))
    assert len(paths) > 20
    assert {p.name: input_bounds.problem(load_event(p)) for p in paths} == dict.fromkeys(
        (p.name for p in paths), None
    )


def test_sixteen_levels_pass_and_the_seventeenth_is_named() -> None:
    event = load_event(FIVE_XX)
    event["detail"]["extra"] = _nested(14)  # event 1, detail 2, extra 3..16
    assert input_bounds.depth(event) == 16 and input_bounds.problem(event) is None

    event["detail"]["extra"] = _nested(15)
    path = "detail.extra" + ".x" * 14
    assert input_bounds.problem(event) == f"{path}: nested deeper than 16 levels"


def test_a_hostile_depth_is_counted_without_recursion() -> None:
    assert input_bounds.depth(_nested(100_000)) == input_bounds.MAX_DEPTH + 1
    assert "nested deeper than 16" in str(input_bounds.problem(_nested(100_000)))


@pytest.mark.parametrize(
    ("value", "why"),
    [
        ("9999-12-31T23:59:59Z", "date out of range (got '9999-12-31T23:59:59Z'"),
        ("0001-01-01T00:00:00+00:00", "date out of range"),
        ("1969-12-31T23:59:59Z", "date out of range"),
        ("2026-13-45T25:61:61Z", "not a date (got '2026-13-45T25:61:61Z')"),
        ("0000-01-01", "not a date"),
        (float("nan"), "nan is not a JSON number"),
        (float("-inf"), "-inf is not a JSON number"),
    ],
)
def test_a_bad_date_or_number_is_refused_naming_the_field(value: Any, why: str) -> None:
    event = load_event(FIVE_XX)
    event["detail"]["state"]["timestamp"] = value

    with pytest.raises(InputInvalid) as refused:
        input_bounds.check(event, "execution input")

    assert str(refused.value).startswith("invalid execution input: detail.state.timestamp: ")
    assert why in str(refused.value)


def test_dates_in_the_window_and_text_that_merely_holds_one_pass() -> None:
    for text in ("1970-01-01T00:00:00Z", "2999-12-31", "2026-11-20T05:00:00.000+0000"):
        assert input_bounds.date_problem(text) is None, text
    assert input_bounds.problem({"reason": "since 9999-12-31T00:00:00Z", "n": 1e308}) is None


def test_an_input_over_half_the_state_limit_is_refused_with_its_size() -> None:
    event = load_event(FIVE_XX)
    event["detail"]["state"]["reason"] = "é" * 70_000  # 140,000 UTF-8 bytes
    found = str(input_bounds.problem(event))
    size = len(json.dumps(event, separators=(",", ":"), ensure_ascii=False).encode())
    assert found == f"$: {size} bytes is over the {input_bounds.MAX_INPUT_BYTES} byte limit"
    assert input_bounds.MAX_INPUT_BYTES * 2 == 262_144, "Step Functions' state payload limit"


def test_a_huge_key_is_named_by_an_excerpt() -> None:
    found = str(input_bounds.problem({"k" * 10_000: float("inf")}))
    assert found.startswith("'kkkkkkkk") and len(found) < 200, found


def test_the_edge_door_uses_the_same_depth() -> None:
    """One bound on nesting (the edge's MQTT messages and every execution input)."""
    assert edges.MAX_DEPTH is input_bounds.MAX_DEPTH
    with pytest.raises(InputInvalid, match="nested deeper than 16 levels"):
        edges.parse_signal({"topic": "lifo4/edge-1/status", "payload": _nested(17)})
