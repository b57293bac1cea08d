"""The forecast accuracy alarm (runbook 000 section 3, "MAPE > 8% nos últimos 7 dias") and
the daily publication of its metric, as synthesized: one alarm per system of the
`selfheal:forecastSystems` context, built from the definition the local world uses too.

Values are parsed from the template, never string-matched."""

from __future__ import annotations

import json
from typing import Any

import pytest
from cdk_synth import Synth
from selfheal_cdk.forecast_accuracy import PUBLISH_INPUT, PUBLISHER
from selfheal_cdk.stack import DeploySettings, cdk_json_context
from selfheal_shared.ml import forecast

from tests.cdk.test_schedules import as_list, role_statements

#: CloudFormation property of AWS::CloudWatch::Alarm -> PutMetricAlarm argument.
CFN_TO_API = {
    "AlarmName": "AlarmName",
    "AlarmDescription": "AlarmDescription",
    "Namespace": "Namespace",
    "MetricName": "MetricName",
    "Dimensions": "Dimensions",
    "Statistic": "Statistic",
    "Period": "Period",
    "EvaluationPeriods": "EvaluationPeriods",
    "DatapointsToAlarm": "DatapointsToAlarm",
    "Threshold": "Threshold",
    "ComparisonOperator": "ComparisonOperator",
    "TreatMissingData": "TreatMissingData",
    "Unit": "Unit",
}


def systems() -> list[str]:
    return [s for s in cdk_json_context()["selfheal:forecastSystems"].split(",") if s]


def alarms(synth: Synth) -> dict[str, dict[str, Any]]:
    out = {}
    for res in synth.resources("AWS::CloudWatch::Alarm").values():
        props = res["Properties"]
        if props.get("Namespace") == forecast.METRIC_NAMESPACE:
            [dim] = props["Dimensions"]
            out[dim["Value"]] = props
    return out


def test_every_system_gets_the_runbooks_mape_alarm(synth: Synth) -> None:
    """Runbook 000 §3: "MAPE > 8% nos últimos 7 dias": threshold 8, strictly greater, on
    the 7-day MAPE of the serving model, dimension SystemId, one alarm per system."""
    found = alarms(synth)
    assert sorted(found) == sorted(systems()) and found
    for system, props in found.items():
        assert props["MetricName"] == "ForecastMAPE7d" and forecast.MAPE_WINDOW_DAYS == 7
        assert props["Dimensions"] == [{"Name": "SystemId", "Value": system}]
        assert props["Threshold"] == 8 and props["ComparisonOperator"] == "GreaterThanThreshold"
        # one daily value of the 7-day MAPE, judged as soon as it is published
        assert (props["Period"], props["EvaluationPeriods"], props["DatapointsToAlarm"]) == (
            86400,
            1,
            1,
        )
        assert props["AlarmName"] == f"forecast-mape-{system}"


def test_the_local_world_creates_the_same_alarm_the_cdk_deploys(synth: Synth) -> None:
    """One definition: the world passes `forecast.accuracy_alarm` to PutMetricAlarm
    (local/worlds/ml/forecast.py); the template carries the same values."""
    for system, props in alarms(synth).items():
        local = forecast.accuracy_alarm(system)
        assert set(local) == set(CFN_TO_API.values())
        for cfn, api in CFN_TO_API.items():
            assert props[cfn] == local[api], (system, cfn)


def test_the_rule_routes_the_alarms_state_change_to_retrain_model(synth: Synth) -> None:
    metric = synth.spec.rules["retrain_model"].event_pattern["detail"]["configuration"]["metrics"][
        "metricStat"
    ]["metric"]
    assert metric["namespace"] == [forecast.METRIC_NAMESPACE]
    assert metric["name"] == [forecast.METRIC_NAME]
    assert forecast.DIMENSION in metric["dimensions"]


def test_the_publisher_runs_daily_and_may_only_publish_its_namespace(synth: Synth) -> None:
    publisher = synth.logical_id(synth.functions[PUBLISHER])
    [schedule] = [
        r["Properties"]
        for r in synth.resources("AWS::Scheduler::Schedule").values()
        if r["Properties"]["Target"]["Arn"] == {"Fn::GetAtt": [publisher, "Arn"]}
    ]
    when = forecast.ALARM["publishSchedule"]
    assert schedule["ScheduleExpression"] == when["expression"]
    assert schedule["ScheduleExpressionTimezone"] == "America/Sao_Paulo"
    assert json.loads(schedule["Target"]["Input"]) == PUBLISH_INPUT
    role_id = schedule["Target"]["RoleArn"]["Fn::GetAtt"][0]
    invokes = [
        s
        for s in role_statements(synth, role_id)
        if "lambda:InvokeFunction" in as_list(s["Action"])
    ]
    assert invokes and all(
        {"Fn::GetAtt": [publisher, "Arn"]} in as_list(s["Resource"]) for s in invokes
    )
    fn_role = synth.template["Resources"][publisher]["Properties"]["Role"]["Fn::GetAtt"][0]
    [put] = [
        s
        for s in role_statements(synth, fn_role)
        if "cloudwatch:PutMetricData" in as_list(s["Action"])
    ]
    assert put["Condition"] == {"StringEquals": {"cloudwatch:namespace": "LIFO4/Forecast"}}


@pytest.mark.parametrize("bad", ["bess 1", "bess-1,bess-1", "*"])
def test_forecast_systems_context_is_validated(bad: str) -> None:
    from aws_cdk import App

    app = App(context={"selfheal:forecastSystems": bad})
    with pytest.raises(ValueError, match="selfheal:forecastSystems"):
        DeploySettings.from_context(app)
