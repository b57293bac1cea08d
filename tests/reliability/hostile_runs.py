"""Hostile variations (hostile_events.py) through the two halves of the pipeline, counted.

`through_the_door` is what every event meets before a workflow, without moto: `rebase`
(replay), `routing.admit` (PutEvents' checks, the rules), StartExecution's checks, and the
bound `Claim` applies first in every workflow. Cheap: all 2,000 run in the suite.

`executed` runs variations for real through a `Pipeline` (every delivery, every workflow
handed on, waited until ended or parked at a gate) and reads the result once at the end:
the executions that ended FAILED without an escalation, and the actions (`*_intent`
records) taken from an event naming an alarm or an edge that does not exist.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from selfheal_cdk.spec import RuleSpec
from selfheal_shared.core import input_bounds

from local import replay, routing, strict_moto
from local.aws_validation import AwsError
from local.runtime import Pipeline
from tests.reliability.hostile_events import Variation


@dataclass
class Door:
    """Where each variation stopped (`of[n]`), counted by kind, and what crashed."""

    of: dict[int, str] = field(default_factory=dict)
    outcomes: Counter[tuple[str, str]] = field(default_factory=Counter)
    crashes: list[str] = field(default_factory=list)

    def count(self, outcome: str) -> int:
        return sum(n for (_, o), n in self.outcomes.items() if o == outcome)


def door_outcome(v: Variation, rules: Iterable[RuleSpec], now: datetime) -> str:
    """The furthest an event gets without a workflow running: `refused` (PutEvents),
    `no rule`, `dead letter` (StartExecution refused), `refused by Claim` or `claimed`."""
    event = replay.rebase(v.event, now)
    admission = routing.admit(event, rules)
    if admission.refusal is not None:
        return "refused"
    outcomes = ["dead letter"] * len(admission.dead)
    for _, text in admission.targets:
        try:
            strict_moto.check_execution_input(text)
        except AwsError:
            outcomes.append("dead letter")
            continue
        found = input_bounds.problem(json.loads(text))
        outcomes.append("claimed" if found is None else "refused by Claim")
    order = ["claimed", "refused by Claim", "dead letter"]
    return min(outcomes, key=order.index) if outcomes else "no rule"


def through_the_door(
    variations: Iterable[Variation], rules: Iterable[RuleSpec], now: datetime
) -> Door:
    door, kept = Door(), list(rules)
    for v in variations:
        try:
            door.of[v.n] = door_outcome(v, kept, now)
            door.outcomes[(v.kind, door.of[v.n])] += 1
        except Exception as exc:  # the failure this counts: nothing may escape the door
            door.crashes.append(f"{v.label}: {type(exc).__name__}: {str(exc)[:200]}")
    return door


@dataclass
class Executed:
    runs: list[tuple[Variation, list[str]]] = field(default_factory=list)
    statuses: Counter[str] = field(default_factory=Counter)
    crashes: list[str] = field(default_factory=list)
    unpaged: list[str] = field(default_factory=list)
    acted_on_nothing: list[str] = field(default_factory=list)
    refused: int = 0


def _deliver(p: Pipeline, v: Variation) -> list[str]:
    """Every execution this variation started, the ones handed on included."""
    before = len(p.started)
    for _ in range(v.deliveries):
        p.put_event(v.event, bus="*", rebase=True)
    waited: list[str] = []
    while len(p.started) - before > len(waited):
        waited = p.started[before:]
        p.wait(waited, timeout=120, until_parked=True)
    return waited


def targets(p: Pipeline) -> tuple[set[str], set[str]]:
    """The alarms and the edges (IoT things) that exist."""
    cw, iot = p.client("cloudwatch"), p.client("iot")
    alarms = {
        a["AlarmName"]
        for page in cw.get_paginator("describe_alarms").paginate(
            AlarmTypes=["MetricAlarm", "CompositeAlarm"]
        )
        for a in page["MetricAlarms"] + page["CompositeAlarms"]
    }
    things = {
        t["thingName"]
        for page in iot.get_paginator("list_things").paginate()
        for t in page["things"]
    }
    return alarms, things


def names_a_real_target(event: dict[str, Any], alarms: set[str], things: set[str]) -> bool:
    """Whether the alarm and the edge the event names (where it names one) exist."""
    detail = event.get("detail")
    if not isinstance(detail, dict):
        return False
    if event.get("detail-type") == "CloudWatch Alarm State Change":
        flat = routing.flatten(detail.get("configuration"))
        edges = flat.get("metrics.metricStat.metric.dimensions.EdgeId", [])
        return _named(detail.get("alarmName"), alarms) and all(_named(e, things) for e in edges)
    if event.get("source") == "selfheal.edge":
        return _named(detail.get("edgeId"), things)
    return True


def _named(value: Any, existing: set[str]) -> bool:
    return isinstance(value, str) and value in existing


def executed(p: Pipeline, variations: Iterable[Variation]) -> Executed:
    out = Executed()
    alarms, things = targets(p)
    for v in variations:
        try:
            out.runs.append((v, _deliver(p, v)))
        except Exception as exc:
            out.crashes.append(f"{v.label}: {type(exc).__name__}: {str(exc)[:200]}")
    out.refused = len(p.refusals())
    by_execution: dict[str, list[dict[str, Any]]] = {}
    for record in p.audit_records():
        by_execution.setdefault(record.get("execution", ""), []).append(record)
    sfn = p.client("stepfunctions")
    for v, arns in out.runs:
        real = names_a_real_target(v.event, alarms, things)
        for arn in arns:
            run = sfn.describe_execution(executionArn=arn)
            records = by_execution.get(arn, [])
            out.statuses[run["status"]] += 1
            if run["status"] == "FAILED" and not any(r["action"] == "escalate" for r in records):
                out.unpaged.append(f"{v.label}: {run.get('error')}: {str(run.get('cause'))[:200]}")
            acted = [r["action"] for r in records if r["action"].endswith("_intent")]
            if acted and not real:
                out.acted_on_nothing.append(f"{v.label}: {acted}")
    return out
