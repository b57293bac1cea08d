"""Step Functions state transitions per incident, per workflow and path.

Each path runs in a fresh local pipeline (moto's state is process-wide) built from the
workflow's own rules, functions and schedules, driven with the events in events/samples
and events/manual the way tests/workflow drives them; the count is the `*StateEntered`
events of the execution's history: what Step Functions Standard bills per transition.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from selfheal_cdk import spec as spec_mod

from local.runtime import Pipeline
from local.worlds import World, WorldSpec

EVENTS = spec_mod.ROOT / "events"


def load(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def only(workflows: set[str]) -> spec_mod.Spec:
    """The convention files cut down to these workflows: every state machine costs moto an
    ASL parse when the pipeline starts."""
    full = spec_mod.load()
    kept = {k: v for k, v in full.workflows.items() if k in workflows}
    used = set().union(*(wf.functions for wf in kept.values()))
    return dataclasses.replace(
        full,
        workflows=kept,
        functions={k: v for k, v in full.functions.items() if k in used},
        rules={k: v for k, v in full.rules.items() if v.workflow in workflows},
        schedules={k: v for k, v in full.schedules.items() if v.workflow in workflows},
    )


def world(*, keep: str) -> WorldSpec:
    """The demo world with only the part (`services`, `ingestion`, `edgeSites`, `fiscal`,
    `forecasting`) a workflow reads: seeding the rest costs time and changes nothing."""
    spec = World.load().spec.model_copy(deep=True)
    spec.services = spec.services if keep == "services" else []
    spec.ingestion = spec.ingestion if keep == "ingestion" else []
    spec.edgeSites = spec.edgeSites if keep == "edgeSites" else []
    spec.fiscal = spec.fiscal if keep == "fiscal" else None
    spec.forecasting = spec.forecasting if keep == "forecasting" else None
    return spec


def state_transitions(p: Pipeline, execution_arn: str) -> int:
    pages = p.client("stepfunctions").get_paginator("get_execution_history")
    return sum(
        1
        for page in pages.paginate(executionArn=execution_arn)
        for event in page["events"]
        if event["type"].endswith("StateEntered")
    )


def outcomes(summary: dict[str, Any]) -> set[str]:
    return {a["outcome"] for a in summary["actions"]}


@dataclasses.dataclass(frozen=True)
class Case:
    """One way through a workflow: how to start it, and what proves it went that way."""

    workflow: str
    name: str
    world: str
    drive: Callable[[Pipeline], dict[str, Any]]  # returns the execution summary
    expect: Callable[[dict[str, Any]], bool]
    tweak: Callable[[WorldSpec], None] = lambda _spec: None


def _clean_integrity(spec: WorldSpec) -> None:
    for ing in spec.ingestion:
        ing.todayFactor = {}


def _event(path: Path, *, decision: str | None = None) -> Callable[[Pipeline], dict[str, Any]]:
    def drive(p: Pipeline) -> dict[str, Any]:
        [summary] = p.run_event(load(path), gate_decision=decision, timeout=300)
        return summary

    return drive


def _manual(workflow: str, path: Path) -> Callable[[Pipeline], dict[str, Any]]:
    def drive(p: Pipeline) -> dict[str, Any]:
        arn = p.start_manual(workflow, load(path))
        p.wait([arn], timeout=300)
        return p.execution_summary(arn)

    return drive


def _delivered_twice(path: Path) -> Callable[[Pipeline], dict[str, Any]]:
    """The second delivery of one trigger: it ends at the incident's claim."""

    def drive(p: Pipeline) -> dict[str, Any]:
        event = load(path)
        p.run_event(event, timeout=300, rebase=False)
        [again] = p.run_event(event, timeout=300, rebase=False)
        return again

    return drive


def _kill_switch_then(
    drive: Callable[[Pipeline], dict[str, Any]],
) -> Callable[[Pipeline], dict[str, Any]]:
    def run(p: Pipeline) -> dict[str, Any]:
        from selfheal_shared.core import guards

        guards.set_switch(guards.KILL_SWITCH, enabled=True, reason="benchmark", actor="bench")
        return drive(p)

    return run


def _bad_previous_version(spec: WorldSpec) -> None:
    spec.services[0].healthyVersions = ["1"]  # the version rolled back to is bad too


FIVE_XX = EVENTS / "samples" / "rollback_on_5xx.lambda_errors_alarm.json"
CASES: tuple[Case, ...] = (
    Case(
        "rollback_on_5xx",
        "fixed",
        "services",
        _event(FIVE_XX),
        lambda s: s["status"] == "SUCCEEDED" and "FIXED" in outcomes(s),
    ),
    Case(
        "rollback_on_5xx",
        "not_fixed",
        "services",
        _event(FIVE_XX),
        lambda s: s["status"] == "FAILED" and "NOT_FIXED" in outcomes(s),
        _bad_previous_version,
    ),
    Case(
        "rollback_on_5xx",
        "skipped_by_guard",
        "services",
        _kill_switch_then(_event(FIVE_XX)),
        # Nothing done while the alarm is in ALARM: L1 is paged (ESCALATED) with the guard.
        lambda s: s["status"] == "SUCCEEDED" and outcomes(s) == {"SKIPPED_BY_GUARD", "ESCALATED"},
    ),
    Case(
        "rollback_on_5xx",
        "duplicate",
        "services",
        _delivered_twice(FIVE_XX),
        lambda s: s["status"] == "SUCCEEDED" and s["states"][-1] == "Duplicate",
    ),
    Case(
        "freeze_ingestion",
        "resume",
        "ingestion",
        _event(
            EVENTS / "samples" / "freeze_ingestion.validation_failures_alarm.json",
            decision="resume",
        ),
        lambda s: s["status"] == "SUCCEEDED",
        # An automatic "resume" is refused over an integrity failure: a clean world.
        _clean_integrity,
    ),
    Case(
        "freeze_ingestion",
        "keep_frozen",
        "ingestion",
        _event(
            EVENTS / "samples" / "freeze_ingestion.validation_failures_alarm.json",
            decision="keep_frozen",
        ),
        lambda s: s["status"] == "FAILED",
    ),
    Case(
        "partial_data",
        "silent_sources_escalated",
        "ingestion",
        _event(EVENTS / "samples" / "partial_data.coverage_alarm.json"),
        lambda s: s["status"] == "FAILED" and "NOT_FIXED" in outcomes(s),
    ),
    Case(
        "fiscal_report",
        "manual",
        "fiscal",
        _manual("fiscal_report", EVENTS / "manual" / "fiscal_report.manual_request.json"),
        lambda s: s["status"] == "SUCCEEDED",
    ),
    Case(
        "retrain_model",
        "alarm",
        "forecasting",
        _event(EVENTS / "samples" / "retrain_model.mape_alarm.json"),
        lambda s: s["status"] == "SUCCEEDED",
    ),
    Case(
        "retrain_model",
        "manual",
        "forecasting",
        _manual("retrain_model", EVENTS / "manual" / "retrain_model.manual_request.json"),
        lambda s: s["status"] == "SUCCEEDED",
    ),
    Case(
        "edge_silence",
        "manual",
        "edgeSites",
        _manual("edge_silence", EVENTS / "manual" / "edge_silence.site_maintenance.json"),
        lambda s: s["status"] == "SUCCEEDED",
    ),
)


def run_case(path: Case) -> int:
    spec = world(keep=path.world)
    path.tweak(spec)
    with Pipeline(world=World(spec), spec=only({path.workflow})) as p:
        summary = path.drive(p)
        if not path.expect(summary):
            raise AssertionError(
                f"{path.workflow}/{path.name} did not go that way: {summary['status']}, "
                f"{summary['actions']}, {summary.get('error')}"
            )
        return state_transitions(p, summary["executionArn"])


def measure(cases: tuple[Case, ...] = CASES) -> dict[str, dict[str, int]]:
    """`{workflow: {path: transitions}}`."""
    result: dict[str, dict[str, int]] = {}
    for path in cases:
        result.setdefault(path.workflow, {})[path.name] = run_case(path)
    return result
