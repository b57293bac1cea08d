"""The alarms the rules wait for (`events/alarms/*.json`, read by `spec.py`): every rule on
CloudWatch alarm state changes has a definition whose alarm it matches, every definition's
state change reaches exactly its own rule, and every sample alarm event is one of them."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from selfheal_cdk import spec as spec_mod

from local import routing
from local.alarm_evaluation import Transformer, check_metric_filter
from local.runtime import alarm_event
from tests.helpers import SAMPLES, load_event

SPEC = spec_mod.load()
ARN = "arn:aws:cloudwatch:us-east-1:123456789012:alarm:"
#: Composite alarms are composed by the owner of what they watch (their children are these
#: definitions' alarms); the rule matches them by name (`*-5xx`).
COMPOSITE_SAMPLES = {"rollback_on_5xx.composite_5xx_alarm.json"}


def example_values(alarm: spec_mod.AlarmSpec) -> dict[str, str]:
    return {v: f"x-{v.lower()}" for v in alarm.variables}


def state_change(args: dict[str, Any], value: str, previous: str = "OK") -> dict[str, Any]:
    """The event CloudWatch emits for an alarm created with these PutMetricAlarm args."""
    from datetime import UTC, datetime

    described = {**args, "AlarmArn": ARN + args["AlarmName"], "StateReason": ""}
    return alarm_event(described, value, previous, "test", datetime(2026, 11, 20, tzinfo=UTC))


def rules_matching(event: dict[str, Any]) -> set[str]:
    return {n for n, r in SPEC.rules.items() if routing.matches(r.event_pattern, event)}


def alarm_rules() -> list[str]:
    """Rules on `aws.cloudwatch` `CloudWatch Alarm State Change` events."""
    return [
        n
        for n, r in SPEC.rules.items()
        if "aws.cloudwatch" in r.event_pattern.get("source", [])
        and "CloudWatch Alarm State Change" in r.event_pattern.get("detail-type", [])
    ]


def test_the_definitions_are_consistent() -> None:
    assert SPEC.alarm_problems() == []
    assert SPEC.alarms, "no events/alarms/*.json"


@pytest.mark.parametrize("rule", alarm_rules())
def test_every_alarm_rule_has_an_alarm_to_wait_for(rule: str) -> None:
    """In an account, a rule on alarm state changes whose alarm nobody creates never fires."""
    feeding = [a for a in SPEC.alarms.values() if a.rule == rule]
    assert feeding, f"events/rules/{rule}.json: no events/alarms/*.json feeds it"
    for alarm in feeding:
        event = state_change(alarm.render(example_values(alarm)), "ALARM")
        assert rule in rules_matching(event), alarm.name


@pytest.mark.parametrize("name", sorted(SPEC.alarms))
def test_a_definitions_alarm_reaches_exactly_its_rule(name: str) -> None:
    alarm = SPEC.alarms[name]
    args = alarm.render(example_values(alarm))
    assert rules_matching(state_change(args, "ALARM")) == {alarm.rule}
    assert rules_matching(state_change(args, "INSUFFICIENT_DATA")) == set()
    ok_rules = rules_matching(state_change(args, "OK", previous="ALARM"))
    assert ok_rules <= {alarm.rule}  # a rule that also takes OK (failover hand-back)


@pytest.mark.parametrize("name", sorted(SPEC.alarms))
def test_a_definition_says_where_its_threshold_and_metric_come_from(name: str) -> None:
    alarm = SPEC.alarms[name]
    assert re.search(r"[Rr]unbook 00[0-4]", alarm.why), "cite the runbook and its clause"
    assert alarm.publisher.get("by"), "say who publishes the metric in production"
    if alarm.publisher["kind"] == "logMetricFilter":
        # one CloudWatch Logs accepts and the local runtime applies
        pub = alarm.publisher
        transformer = Transformer.parse(pub["transformer"]) if pub.get("transformer") else None
        check_metric_filter(
            pub["filterPattern"],
            [alarm.metric_transformation()],
            on_transformed=bool(pub.get("applyOnTransformedLogs")),
            transformer=transformer,
        )


def metric_samples() -> list[Path]:
    out = []
    for path in sorted(SAMPLES.glob("*.json")):
        event = load_event(path)
        if event.get("detail-type") == "CloudWatch Alarm State Change":
            out.append(path)
    return out


def template_match(template: str, text: str, variables: tuple[str, ...]) -> dict[str, str] | None:
    pattern = re.escape(template)
    for var in variables:
        pattern = pattern.replace(re.escape(f"{{{var}}}"), f"(?P<{var}>.+?)", 1)
        pattern = pattern.replace(re.escape(f"{{{var}}}"), f"(?P={var})")
    m = re.fullmatch(pattern, text)
    return {k: v for k, v in m.groupdict().items() if v is not None} if m else None


def definition_of(
    alarm_name: str, dimensions: dict[str, str], rule: str
) -> tuple[spec_mod.AlarmSpec, dict[str, str]]:
    """The definition (and its instance's values) an alarm belongs to: its name and its
    dimensions read through the definition's templates."""
    found = []
    for alarm in SPEC.alarms.values():
        values = template_match(alarm.alarm_name, alarm_name, alarm.variables)
        if alarm.rule != rule or values is None:
            continue
        for dim, template in alarm.dimensions.items():
            more = template_match(template, dimensions.get(dim, ""), alarm.variables)
            if more is None or any(values.get(k, v) != v for k, v in more.items()):
                break
            values |= more
        else:
            found.append((alarm, values))
    assert len(found) == 1, f"{alarm_name}: {len(found)} definitions of rule {rule} name it"
    return found[0]


@pytest.mark.parametrize(
    "path",
    # a composite alarm is composed by the owner of its children: no definition of ours
    [p for p in metric_samples() if p.name not in COMPOSITE_SAMPLES],
    ids=lambda p: p.name,
)
def test_every_sample_alarm_event_is_one_a_definition_creates(path: Path) -> None:
    """The sample stays a replay input; it must be what the deployed alarm would emit:
    same name, metric, dimensions, statistic, period and threshold (and N of M where the
    reason says it)."""
    event = load_event(path)
    detail = event["detail"]
    rule = path.name.split(".", 1)[0]
    [metric] = [m for m in detail["configuration"]["metrics"] if "metricStat" in m]
    stat = metric["metricStat"]
    alarm, values = definition_of(detail["alarmName"], stat["metric"]["dimensions"], rule)
    args = alarm.render(values)
    assert event["resources"] == [ARN + args["AlarmName"]]
    assert stat["metric"]["namespace"] == args["Namespace"]
    assert stat["metric"]["name"] == args["MetricName"]
    assert stat["metric"]["dimensions"] == {d["Name"]: d["Value"] for d in args["Dimensions"]}
    assert (stat["stat"], stat["period"]) == (args["Statistic"], args["Period"])
    for state in (detail["state"], detail["previousState"]):
        said = re.search(r"the threshold \(([-\d.]+)\)", state.get("reason", ""))
        if said:
            assert float(said.group(1)) == args["Threshold"], state["reason"]
        if state.get("reasonData"):
            data = json.loads(state["reasonData"])
            assert data["threshold"] == args["Threshold"]
            assert (data["statistic"], data["period"]) == (args["Statistic"], args["Period"])
    n_of_m = re.search(r"(\d+) out of the last (\d+) datapoints", detail["state"]["reason"])
    if n_of_m and detail["state"]["value"] == "ALARM":
        n, m = map(int, n_of_m.groups())
        assert m == args["EvaluationPeriods"] and n >= args["DatapointsToAlarm"]


def test_the_probe_publishes_what_every_probe_published_alarm_reads() -> None:
    """A definition whose publisher is the probe names a metric `service_probe` publishes
    (selfheal_shared/services/probes.py plans it from the service descriptions), with that check."""
    from selfheal_shared.services import probes

    planned = probes.plan()
    readers = [a for a in SPEC.alarms.values() if a.publisher["kind"] == "probe"]
    assert readers
    for alarm in readers:
        args = alarm.render(example_values(alarm))
        dims = {d["Name"]: d["Value"] for d in args["Dimensions"]}
        found = [
            p
            for p in planned
            if (p.namespace, p.metric) == (args["Namespace"], args["MetricName"])
            and p.dimensions
            == ({k: v for k, v in dims.items() if k != "Instance"} if "Instance" in dims else dims)
        ]
        assert [p.check for p in found] == [alarm.publisher["check"]], alarm.name


def test_every_alarm_a_service_description_names_is_defined_for_that_service() -> None:
    """service_recovery finds the service by the alarm's name (`services/*.json` `alarms`):
    each such alarm is defined, feeds service_recovery and watches that service."""
    from selfheal_shared.services import service_spec

    for spec in service_spec.load().values():
        for name in spec.alarms:
            assert name in SPEC.alarms, f"services/{spec.name}.json names {name}: not defined"
            alarm = SPEC.alarms[name]
            assert alarm.rule == "service_recovery"
            assert alarm.dimensions == {"Service": spec.name}
