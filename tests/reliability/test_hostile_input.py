"""Hostile events and manual inputs (hypothesis): the runtime never crashes, nothing acts
on an input that fails validation or names a target that does not exist or is not in the
state it claims, and every reject is kept with its cause and paged or recorded."""

from __future__ import annotations

import copy
import json
import os
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from selfheal_shared.core.alarm_event import AlarmStateChangeEvent
from selfheal_shared.deploy.rollback import function_name

from local.runtime import Pipeline
from local.worlds import World
from tests.helpers import FIVE_XX, load_event

ORIGINAL = load_event(FIVE_XX)
#: Mutated events per run: 150 in the suite (under a minute), 500 or more by hand with
#: SELFHEAL_HOSTILE_EXAMPLES=500 (the issue's figure; see the closing note for its result).
EXAMPLES = int(os.environ.get("SELFHEAL_HOSTILE_EXAMPLES", "150"))


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    yield prefix
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for n, value in enumerate(node):
            yield from _paths(value, (*prefix, n))


PATHS = [p for p in _paths(ORIGINAL) if p]


def _deep(depth: int) -> Any:
    node: Any = "bottom"
    for _ in range(depth):
        node = {"x": node}
    return node


HOSTILE = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63),
    st.floats(allow_nan=False),
    st.text(max_size=40),
    st.sampled_from(
        [
            "",
            " ",
            "*",
            "all",
            "*orders-api",
            "orders-api\u200b",
            "orders-api-errors\u200b",
            "OK",
            "ALARM",
            "x" * 100_000,
            "<script>",
            "'; DROP TABLE",
        ]
    ),
    st.builds(_deep, st.sampled_from([50, 400, 900])),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=3),
)


def _mutate(event: dict[str, Any], path: tuple[Any, ...], value: Any) -> None:
    node = event
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value


def _valid_target(event: dict[str, Any]) -> bool:
    """Whether the event is a well-formed ALARM transition of the real alarm, watching the
    real function: the only kind of input allowed to act."""
    try:
        alarm = AlarmStateChangeEvent.model_validate(event)
        return (
            alarm.detail.alarmName == "orders-api-errors"
            and function_name(alarm) == "orders-api"
            and alarm.metric_dimensions().get("Resource", "orders-api:live") == "orders-api:live"
        )
    except Exception:
        return False


@pytest.fixture(scope="module")
def pipeline() -> Iterator[Pipeline]:
    spec = World.load().spec.model_copy(deep=True)
    spec.ingestion, spec.fiscal, spec.forecasting = [], None, None
    with Pipeline(world=World(spec)) as p:
        yield p


def test_mutated_alarm_events(pipeline: Pipeline) -> None:
    seen: Counter[str] = Counter()

    @settings(
        max_examples=EXAMPLES,
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow],
    )
    @given(mutations=st.lists(st.tuples(st.sampled_from(PATHS), HOSTILE), min_size=1, max_size=3))
    def one(mutations: list[tuple[Any, Any]]) -> None:
        event = copy.deepcopy(ORIGINAL)
        # Each example its own alarm transition, so it is validated, not deduplicated.
        event["detail"]["state"]["timestamp"] = (
            f"2026-11-20T04:{seen['events'] // 60 % 60:02d}:{seen['events'] % 60:02d}.000+0000"
        )
        for path, value in mutations:
            try:
                _mutate(event, path, value)
            except (KeyError, IndexError, TypeError):
                continue  # an earlier mutation replaced this path's parent
        arns = pipeline.put_event(event)  # never raises: a crash here is the failure
        pipeline.wait(arns, timeout=60)
        seen["events"] += 1
        if not arns:
            return
        records = pipeline.audit_records()  # one scan per example: the table grows
        sfn = pipeline.client("stepfunctions")
        for arn in arns:
            run = sfn.describe_execution(executionArn=arn)
            seen[run["status"]] += 1
            new = [r for r in records if r.get("execution") == arn]
            if any(r["action"].endswith("_intent") for r in new):
                seen["acted"] += 1
                assert _valid_target(event), f"acted on bad input: {json.dumps(event)[:300]}"
            if run["status"] == "FAILED":
                assert run.get("cause"), "a reject keeps its cause in the execution history"
                assert any(r["action"] == "escalate" for r in new), "paged and audited"
                assert all(len(r["why"]) < 8_000 for r in new), "errors carry an excerpt only"
            else:
                assert run["status"] == "SUCCEEDED", run

    one()
    # The mutations reach the workflow (not only the rule), and some are rejected there.
    assert seen["events"] == EXAMPLES and seen["FAILED"] >= EXAMPLES // 10, seen
    print(dict(seen))
