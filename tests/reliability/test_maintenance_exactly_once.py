"""The exactly-once harness (test_exactly_once.py) on the maintenance window, which no event
starts (its weekly schedule or a manual start does): every acting call of a clean manual
window (the backup's copies, each flag change's save and deploy) faulted in turn in the
harness's five modes → no effect twice, no landed effect without its record, no record of
an effect that did not land, the clean ending or a page."""

from __future__ import annotations

import functools
import json
from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from test_exactly_once import MODES, Harness, Outcome, ending, problems, watched

from local.runtime import Pipeline
from local.worlds import World
from local.worlds.platform import seed_maintenance
from tests.helpers import spec_for

BRT = ZoneInfo("America/Sao_Paulo")


def run_window(harness: Harness) -> Outcome:
    spec = World.load().spec.model_copy(deep=True)
    spec.ingestion, spec.edgeSites, spec.services = [], [], []
    spec.apis, spec.compositeAlarms = [], []
    spec.fiscal = spec.forecasting = None
    with watched(harness), Pipeline(world=World(spec), spec=spec_for(["maintenance_window"])) as p:
        harness.audit_table = p.tables["audit"]
        seed_maintenance(p)
        start = (p.clock.now() + timedelta(hours=1)).astimezone(BRT)
        arn = p.start_manual(
            "maintenance_window",
            {"start": start.isoformat(), "durationMinutes": 60, "reason": "harness"},
        )
        p.wait([arn], timeout=120)
        records = [{**r, "details": json.loads(r.get("details", "{}"))} for r in p.audit_records()]
        return Outcome([p.execution_summary(arn)], records, p.notifications())


@functools.cache
def discovered() -> tuple[list[tuple[str, str]], list[tuple[str, str, int]]]:
    harness = Harness()
    clean = run_window(harness)
    assert ending(clean) == [("SUCCEEDED", "FIXED")], ending(clean)
    assert problems(clean, harness, ending(clean)) == [], "the clean run itself is wrong"
    kinds: dict[tuple[str, str, str], tuple[str, str, int]] = {}
    for call, action in zip(harness.seen, harness.actions, strict=True):
        kinds.setdefault((action, call[0], call[1]), call)
    return ending(clean), list(kinds.values())


def test_the_window_s_acting_calls_are_found() -> None:
    _, calls = discovered()
    assert {op for _, op, _ in calls} >= {
        "CopyObject",
        "CreateHostedConfigurationVersion",
        "StartDeployment",
    }


@pytest.mark.parametrize("mode", MODES)
def test_every_acting_call_of_the_window_survives_the_fault_once_and_on_the_record(
    mode: str,
) -> None:
    clean, calls = discovered()
    found: dict[str, Any] = {}
    for victim in calls:
        harness = Harness(mode=mode, victim=victim)
        outcome = run_window(harness)
        assert harness.fired, f"{victim} was never called under the fault"
        if bad := problems(outcome, harness, clean):
            found[str(victim)] = bad
    assert found == {}
