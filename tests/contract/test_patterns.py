"""Each sample event matches exactly its intended rule; near-misses match none.

Sample files are named `<rule>.<case>.json`: the prefix is the one rule they must match.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from selfheal_cdk import spec as spec_mod

from local import routing
from tests.helpers import NEAR_MISS, SAMPLES, load_event

SPEC = spec_mod.load()


def _matching_rules(event: dict) -> set[str]:
    return {name for name, rule in SPEC.rules.items() if routing.matches(rule.event_pattern, event)}


@pytest.mark.parametrize("path", sorted(SAMPLES.glob("*.json")), ids=lambda p: p.name)
def test_sample_matches_exactly_its_rule(path: Path) -> None:
    intended = path.name.split(".", 1)[0]
    assert intended in SPEC.rules, f"{path.name}: no rule named {intended!r}"
    assert _matching_rules(load_event(path)) == {intended}


@pytest.mark.parametrize("path", sorted(NEAR_MISS.glob("*.json")), ids=lambda p: p.name)
def test_near_miss_matches_no_rule(path: Path) -> None:
    assert _matching_rules(load_event(path)) == set()


def test_every_rule_has_a_sample_and_a_near_miss() -> None:
    for name in SPEC.rules:
        assert list(SAMPLES.glob(f"{name}.*.json")), f"rule {name} has no sample event"
        assert list(NEAR_MISS.glob(f"{name}.*.json")), f"rule {name} has no near-miss event"


def test_array_values_match_like_eventbridge() -> None:
    """A metric in the second array element still matches (moto alone would not)."""
    event = load_event(SAMPLES / "rollback_on_5xx.lambda_errors_alarm.json")
    metrics = event["detail"]["configuration"]["metrics"]
    metrics.insert(0, {"id": "e1", "expression": "m1 * 2", "returnData": False})
    assert _matching_rules(event) == {"rollback_on_5xx"}


def test_flatten_collects_leaves_across_arrays() -> None:
    flat = routing.flatten({"a": [{"b": 1}, {"b": 2}, {"c": 3}], "d": "x"})
    assert flat == {"a.b": [1, 2], "a.c": [3], "d": ["x"]}


def test_input_transformer_builds_the_template() -> None:
    event = {"detail": {"alarmName": "a1", "state": {"value": "ALARM"}}}
    text = routing.transform(
        event,
        {
            "inputPathsMap": {"name": "$.detail.alarmName", "state": "$.detail.state"},
            "inputTemplate": '{"alarm": <name>, "state": <state>}',
        },
    )
    assert text == '{"alarm": "a1", "state": {"value": "ALARM"}}'
