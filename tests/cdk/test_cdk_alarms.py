"""The alarms the rules wait for, as synthesized (cdk/selfheal_cdk/alarms.py): every
definition of `events/alarms/` (each instance of a templated one the context names) is one
AWS::CloudWatch::Alarm with the definition's values, in the stack of the domain whose rule
it feeds; the P2002 metric filter publishes exactly the metric its alarm reads.

Values are parsed from the template, never string-matched."""

from __future__ import annotations

from typing import Any

import pytest
from aws_cdk import App, Stack
from aws_cdk.assertions import Template
from cdk_synth import Synth
from selfheal_cdk.alarms import Alarms, parse_instances
from selfheal_cdk.spec import CTX_ALARM_INSTANCES, Spec
from selfheal_cdk.stack import cdk_json_context, domain_stack_id


def instances(spec: Spec) -> dict[str, list[dict[str, str]]]:
    return parse_instances(cdk_json_context().get(CTX_ALARM_INSTANCES), spec)


def expected(spec: Spec) -> dict[str, tuple[str, dict[str, Any]]]:
    """alarm name -> (the stack that must hold it, its PutMetricAlarm arguments)."""
    given = instances(spec)
    out = {}
    for definition in spec.alarms.values():
        if definition.deployed_by:
            continue
        domain = spec.domain_of(spec.rules[definition.rule].workflow)
        for values in definition.instances(given):
            args = definition.render(values)
            out[args["AlarmName"]] = (domain_stack_id(domain), args)
    return out


def synthesized_alarms(synth: Synth) -> dict[str, tuple[str, dict[str, Any]]]:
    """By alarm name (by logical id for an alarm CloudFormation names)."""
    return {
        r["Properties"].get("AlarmName", logical): (logical.split("/", 1)[0], r["Properties"])
        for logical, r in synth.resources("AWS::CloudWatch::Alarm").items()
    }


def test_every_definition_is_deployed_with_its_values_in_its_domains_stack(
    synth: Synth,
) -> None:
    want = expected(synth.spec)
    found = synthesized_alarms(synth)
    assert "equivalence-api-health" in want and "lambda_router-errors" in want
    for name, (stack, args) in want.items():
        assert name in found, f"{name}: not synthesized"
        where, props = found[name]
        assert where == stack, name
        # CloudFormation's names are PutMetricAlarm's; Tags are the stack's
        assert {k: v for k, v in props.items() if k != "Tags"} == args, name


def test_no_alarm_is_deployed_without_a_definition(synth: Synth) -> None:
    """Beside the definitions' alarms: the forecast alarms (deployed beside their publisher,
    from the same definition) and the stacks' own operational alarms (dead letters)."""
    want = expected(synth.spec)
    forecast = synth.spec.alarms["forecast-mape"]
    for name, (stack, props) in synthesized_alarms(synth).items():
        if name in want:
            continue
        if props["Namespace"] == forecast.namespace:
            system = props["Dimensions"][0]["Value"]
            rest = {k: v for k, v in props.items() if k != "Tags"}
            assert rest == forecast.render({"systemId": system}) and stack == "Selfheal"
            continue
        assert props.get("Namespace") == "AWS/SQS", (name, props.get("Namespace"))


def test_the_p2002_metric_filter_publishes_the_metric_its_alarm_reads(synth: Synth) -> None:
    """Runbook 004 "Erro P2002": `grep P2002` in the ingestion logs, as a Logs metric filter
    in the stack of the rule it feeds (ingestion)."""
    definition = synth.spec.alarms["aupus-mqtt-p2002"]
    filters = {
        logical: r["Properties"]
        for logical, r in synth.resources("AWS::Logs::MetricFilter").items()
    }
    [(logical, props)] = [
        (k, v) for k, v in filters.items() if v["FilterName"] == definition.filter_name
    ]
    assert logical.startswith(f"{domain_stack_id('ingestion')}/")
    assert props["LogGroupName"] == "/selfheal/services/aupus-ingestion"
    assert props["FilterPattern"] == '{ $.message = "*P2002*" }'
    [t] = props["MetricTransformations"]
    alarm = definition.render()
    assert (t["MetricNamespace"], t["MetricName"], t["MetricValue"]) == (
        alarm["Namespace"],
        alarm["MetricName"],
        "1",
    )
    assert [d["Key"] for d in t["Dimensions"]] == [d["Name"] for d in alarm["Dimensions"]]
    assert t["Dimensions"] == [{"Key": "IngestionGroup", "Value": "$.ingestionGroup"}]
    # on the group's transformed events, after its transformer, on the stack's log group
    assert props["ApplyOnTransformedLogs"] is True
    stack = logical.split("/", 1)[0]
    [transformer] = [
        k for k, r in synth.resources("AWS::Logs::Transformer").items()
        if r["Properties"]["LogGroupIdentifier"] == props["LogGroupName"]
    ]  # fmt: skip
    assert transformer.split("/", 1)[0] == stack
    assert transformer in synth.template["Resources"][logical]["DependsOn"]
    [(group, gres)] = [
        (k, r) for k, r in synth.resources("AWS::Logs::LogGroup").items()
        if r["Properties"].get("LogGroupName") == props["LogGroupName"]
    ]  # fmt: skip
    assert group.split("/", 1)[0] == stack and gres["DeletionPolicy"] == "Retain"
    assert group in synth.template["Resources"][transformer]["DependsOn"]


def test_the_synthesized_p2002_filter_counts_the_line_pm2_writes(synth: Synth) -> None:
    """The transformer and the filter as synthesized, applied by the local cloud's
    CloudWatch Logs (local/alarm_evaluation.py) to the line aupus-api really prints
    (tests/fixtures/host_output/aupus/pm2_logs_p2002.json, without `pm2 logs`' prefix):
    one datapoint with the alarm's IngestionGroup. CloudFormation's names and the API's
    differ only in their first letter."""
    import json
    import re

    from local.alarm_evaluation import Transformer, check_metric_filter
    from tests.helpers import ROOT

    definition = synth.spec.alarms["aupus-mqtt-p2002"]
    [props] = [
        r["Properties"]
        for r in synth.resources("AWS::Logs::MetricFilter").values()
        if r["Properties"]["FilterName"] == definition.filter_name
    ]
    [tprops] = [
        r["Properties"]
        for r in synth.resources("AWS::Logs::Transformer").values()
        if r["Properties"]["LogGroupIdentifier"] == props["LogGroupName"]
    ]

    def api(value: Any) -> Any:
        if isinstance(value, dict):
            return {k[:1].lower() + k[1:]: api(v) for k, v in value.items()}
        return [api(v) for v in value] if isinstance(value, list) else value

    transformer = Transformer.parse(api(tprops["TransformerConfig"]))
    [cfn] = props["MetricTransformations"]
    t = {
        "metricValue": cfn["MetricValue"],
        "dimensions": {d["Key"]: d["Value"] for d in cfn["Dimensions"]},
    }
    matcher = check_metric_filter(
        props["FilterPattern"], [t], on_transformed=True, transformer=transformer
    )
    fixture = ROOT / "tests/fixtures/host_output/aupus/pm2_logs_p2002.json"
    shown = json.loads(fixture.read_text())["stdout"].splitlines()[0]
    # what the file holds: without `pm2 logs`' "0|aupus-ap | " prefix (and its colours)
    line = re.sub(r"\x1b\[[0-9;]*m", "", shown).split(" | ", 1)[1]
    assert line.startswith("❌ [MQTT] ERRO: P2002: Unique constraint failed")
    doc = transformer.apply(line)
    assert doc is not None
    assert matcher.datum(json.dumps(doc), t) == (1.0, {"IngestionGroup": "aupus-mqtt"})
    alarm = definition.render()
    assert {d["Name"]: d["Value"] for d in alarm["Dimensions"]} == {"IngestionGroup": "aupus-mqtt"}
    # the line as shipped (not transformed) has no field: the filter alone counts nothing
    assert matcher.datum(line, t) is None
    saved = "💾 [MQTT] Buffer flush: 1 registro(s) salvo(s)"
    assert matcher.datum(json.dumps(transformer.apply(saved)), t) is None


def test_a_templated_definition_is_one_alarm_per_instance_of_the_context() -> None:
    """The battery domain's CloudWatch alarms, for the edges the deployment names."""
    from selfheal_cdk.spec import load

    spec = load().for_domain("battery")
    given = parse_instances(
        {"edge-over-temperature": [{"EdgeId": "edge-cps-001"}, {"EdgeId": "edge-cps-002"}]},
        spec,
    )
    stack = Stack(App(), "T")
    Alarms(stack, "Alarms", spec=spec, instances=given)
    found = {
        r["Properties"]["AlarmName"]: r["Properties"]
        for r in Template.from_stack(stack).find_resources("AWS::CloudWatch::Alarm").values()
    }
    assert sorted(found) == ["edge-cps-001-OVER_TEMPERATURE", "edge-cps-002-OVER_TEMPERATURE"]
    props = found["edge-cps-002-OVER_TEMPERATURE"]
    assert props["Dimensions"] == [
        {"Name": "EdgeId", "Value": "edge-cps-002"},
        {"Name": "AlarmType", "Value": "OVER_TEMPERATURE"},
    ]
    # Runbook 000 §5a "Over Temperature (> 50°C)"
    assert (props["Threshold"], props["ComparisonOperator"]) == (50, "GreaterThanThreshold")


@pytest.mark.parametrize(
    "bad",
    [
        {"lambda-errors": [{"FunctionName": "f"}]},  # Alias missing
        {"lambda-errors": [{"FunctionName": "f x", "Alias": "live"}]},
        {"lambda-errors": [{"FunctionName": "f", "Alias": "live"}] * 2},
        {"equivalence-api-health": [{}]},  # concrete: no instances
        {"forecast-mape": [{"systemId": "b"}]},  # from selfheal:forecastSystems
        {"no-such-alarm": []},
        ["lambda-errors"],
    ],
)
def test_alarm_instances_context_is_validated(bad: object) -> None:
    from selfheal_cdk.spec import load

    with pytest.raises(ValueError, match=CTX_ALARM_INSTANCES):
        parse_instances(bad, load())


def test_the_service_probe_runs_every_minute_and_may_only_publish_its_namespaces(
    synth: Synth,
) -> None:
    from selfheal_cdk.alarms import PROBE, PROBE_INPUT, PROBE_SCHEDULE
    from selfheal_shared.services import probes

    from tests.cdk.test_schedules import as_list, role_statements

    probe = synth.logical_id(synth.functions[PROBE])
    [schedule] = [
        r["Properties"]
        for r in synth.resources("AWS::Scheduler::Schedule").values()
        if r["Properties"]["Target"]["Arn"] == {"Fn::GetAtt": [probe, "Arn"]}
    ]
    assert schedule["ScheduleExpression"] == PROBE_SCHEDULE == "rate(1 minute)"
    import json

    assert json.loads(schedule["Target"]["Input"]) == PROBE_INPUT
    role_id = schedule["Target"]["RoleArn"]["Fn::GetAtt"][0]
    invokes = [
        s
        for s in role_statements(synth, role_id)
        if "lambda:InvokeFunction" in as_list(s["Action"])
    ]
    assert invokes and all(
        as_list(s["Resource"]) == [{"Fn::GetAtt": [probe, "Arn"]}] for s in invokes
    )
    fn_role = synth.template["Resources"][probe]["Properties"]["Role"]["Fn::GetAtt"][0]
    [put] = [
        s
        for s in role_statements(synth, fn_role)
        if "cloudwatch:PutMetricData" in as_list(s["Action"])
    ]
    namespaces = {p.namespace for p in probes.plan()}
    assert set(put["Condition"]["StringEquals"]["cloudwatch:namespace"]) == namespaces
    # a failed asynchronous run is kept, not dropped
    assert synth.template["Resources"][probe]["Properties"]["DeadLetterConfig"]["TargetArn"]
