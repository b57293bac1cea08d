"""The alarms the rules wait for, in the local runtime (local/alarms.py): created in moto
from `events/alarms/*.json` when the pipeline builds, evaluated from the metric data put at
virtual time at each period boundary, each transition emitted as the AWS-shaped `CloudWatch
Alarm State Change` event and routed like EventBridge; the metric filters applied to the
log lines put; the simulated world's own alarms left to the world.

The routed events are recorded here instead of started (each workflow's own tests start
from the raw signal: tests/workflow/test_*_signals)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from selfheal_cdk import spec as spec_mod

from local.runtime import Pipeline
from local.worlds import World, WorldSpec
from tests.helpers import spec_for

WORKFLOWS = ("partial_data", "ingestion_failover", "rollback_on_5xx", "service_recovery")


@pytest.fixture(scope="module")
def alarm_spec() -> spec_mod.Spec:
    return spec_for(WORKFLOWS)


@pytest.fixture
def pipeline(
    alarm_spec: spec_mod.Spec, world_spec: WorldSpec, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[Pipeline, list[dict[str, Any]]]]:
    """The demo world's functions (their alarms the world's), the definitions' alarms, and
    every event the runtime routes recorded (none started)."""
    p = Pipeline(
        world=World(world_spec),
        spec=alarm_spec,
        alarm_instances={"lambda-errors": [{"FunctionName": "checkout-api", "Alias": "live"}]},
    )
    routed: list[dict[str, Any]] = []
    p.__enter__()
    monkeypatch.setattr(p, "put_event", lambda event, bus="default", **_: routed.append(event))
    try:
        yield p, routed
    finally:
        p.__exit__(None, None, None)


def put(p: Pipeline, namespace: str, name: str, dims: dict[str, str], value: float) -> None:
    """A datapoint at the virtual now, as its publisher would put it."""
    p.client("cloudwatch").put_metric_data(
        Namespace=namespace,
        MetricData=[
            {
                "MetricName": name,
                "Value": value,
                "Timestamp": p.clock.now(),
                "Dimensions": [{"Name": k, "Value": v} for k, v in dims.items()],
            }
        ],
    )


def alarm(p: Pipeline, name: str) -> dict[str, Any]:
    [found] = p.client("cloudwatch").describe_alarms(AlarmNames=[name])["MetricAlarms"]
    return found  # type: ignore[no-any-return]


def transitions(routed: list[dict[str, Any]], name: str) -> list[tuple[str, str]]:
    return [
        (e["detail"]["previousState"]["value"], e["detail"]["state"]["value"])
        for e in routed
        if e["detail"]["alarmName"] == name
    ]


HEALTH = ("Selfheal/Services", "HealthCheckFailed", {"Service": "inference"})


def test_the_definitions_alarms_are_created_in_moto_as_the_stacks_create_them(
    pipeline: tuple[Pipeline, list[dict[str, Any]]], alarm_spec: spec_mod.Spec
) -> None:
    p, _ = pipeline
    expected = {
        a.render()["AlarmName"]: a.render()
        for a in alarm_spec.alarms.values()
        if a.rule in alarm_spec.rules and not a.templated
    }
    expected["checkout-api-errors"] = alarm_spec.alarms["lambda-errors"].render(
        {"FunctionName": "checkout-api", "Alias": "live"}
    )
    assert "inference-health" in expected and "aupus-mqtt-p2002" in expected
    assert "ons-platform-validation" not in expected  # freeze_ingestion is not in this spec
    for name, args in expected.items():
        found = alarm(p, name)
        for key, value in args.items():
            assert found[key] == value, (name, key)
    # no data yet: as the definition treats missing data
    assert alarm(p, "inference-health")["StateValue"] == "INSUFFICIENT_DATA"  # missing
    assert alarm(p, "checkout-api-errors")["StateValue"] == "OK"  # notBreaching


def test_two_of_three_breaching_minutes_alarm_and_recovery_is_ok(
    pipeline: tuple[Pipeline, list[dict[str, Any]]],
) -> None:
    """inference-health: HealthCheckFailed > 0 in 2 of the last 3 minutes."""
    p, routed = pipeline
    for value in (1, 0):
        put(p, *HEALTH, value)
        p.clock.advance(60)
    assert routed == [] and alarm(p, "inference-health")["StateValue"] == "INSUFFICIENT_DATA"
    put(p, *HEALTH, 1)
    p.clock.advance(60)

    assert transitions(routed, "inference-health") == [("INSUFFICIENT_DATA", "ALARM")]
    [event] = routed
    assert event["source"] == "aws.cloudwatch"
    assert event["detail-type"] == "CloudWatch Alarm State Change"
    assert event["resources"] == [alarm(p, "inference-health")["AlarmArn"]]
    detail = event["detail"]
    assert detail["state"]["reason"].startswith("Threshold Crossed: 2 out of the last 3 datapoints")
    data = json.loads(detail["state"]["reasonData"])
    assert (data["statistic"], data["period"], data["threshold"]) == ("Maximum", 60, 0.0)
    assert data["recentDatapoints"] == [1.0, 0.0, 1.0]
    [metric] = detail["configuration"]["metrics"]
    assert metric["metricStat"]["metric"] == {
        "namespace": "Selfheal/Services",
        "name": "HealthCheckFailed",
        "dimensions": {"Service": "inference"},
    }
    stamp = p.clock.now().strftime("%Y-%m-%dT%H:%M:00.000+0000")
    assert detail["state"]["timestamp"] == stamp and event["time"] == stamp[:19] + "Z"
    assert alarm(p, "inference-health")["StateValue"] == "ALARM"
    journal = [j.text for j in p.journal if j.kind == "alarm"]
    assert journal == [
        f"alarm inference-health: INSUFFICIENT_DATA -> ALARM ({detail['state']['reason']})"
    ]

    for _ in range(2):  # healthy again: two fine minutes make 2 of 3 unreachable
        put(p, *HEALTH, 0)
        p.clock.advance(60)
    assert transitions(routed, "inference-health")[-1] == ("ALARM", "OK")

    p.clock.advance(3 * 60)  # the probe stopped: 3 unknown minutes
    assert transitions(routed, "inference-health")[-1] == ("OK", "INSUFFICIENT_DATA")
    assert routed[-1]["detail"]["state"]["reason"] == (
        "Insufficient Data: 3 datapoints were unknown."
    )


def test_a_jump_over_many_periods_evaluates_each_boundary_in_order(
    pipeline: tuple[Pipeline, list[dict[str, Any]]],
) -> None:
    """A Wait of 10 minutes moves the clock once: the boundaries it crosses are evaluated
    in order, each event stamped at its own boundary."""
    p, routed = pipeline
    start = p.clock.now()
    for minute in range(3):
        p.client("cloudwatch").put_metric_data(
            Namespace=HEALTH[0],
            MetricData=[
                {
                    "MetricName": HEALTH[1],
                    "Value": 1,
                    "Timestamp": start + timedelta(minutes=minute, seconds=10),
                    "Dimensions": [{"Name": "Service", "Value": "inference"}],
                }
            ],
        )
    p.clock.advance(30 * 86400)  # and a month more: a few evaluations, not 43,200
    assert transitions(routed, "inference-health") == [
        ("INSUFFICIENT_DATA", "ALARM"),
        ("ALARM", "INSUFFICIENT_DATA"),
    ]
    times = [e["detail"]["state"]["timestamp"] for e in routed]
    assert times == [
        (start + timedelta(minutes=2)).strftime("%Y-%m-%dT%H:%M:00.000+0000"),
        (start + timedelta(minutes=6)).strftime("%Y-%m-%dT%H:%M:00.000+0000"),
    ]


def test_p2002_log_lines_become_the_metric_the_alarm_reads(
    pipeline: tuple[Pipeline, list[dict[str, Any]]],
) -> None:
    """The metric filter of `aupus-mqtt-p2002`, applied to the plain lines pm2 writes as
    they are put to the log group, after the group's transformer (the line as `message`,
    plus `ingestionGroup`): moto stores filters but applies neither."""
    p, routed = pipeline
    logs = p.client("logs")
    group = "/selfheal/services/aupus-ingestion"
    [f] = logs.describe_metric_filters(logGroupName=group)["metricFilters"]
    assert f["filterName"] == "selfheal-aupus-mqtt-p2002"
    assert logs.get_transformer(logGroupIdentifier=group)["transformerConfig"][0] == {
        "grok": {"match": "%{GREEDYDATA:message}"}
    }
    logs.create_log_stream(logGroupName=group, logStreamName="b")
    at = int(p.clock.now().timestamp() * 1000)
    lines = [
        "💾 [MQTT] Buffer flush: 1 registro(s) salvo(s)",
        "❌ [MQTT] ERRO: P2002: Unique constraint failed on the fields: "
        "(`equipamento_id`,`ts`) - equipamento inv-01, ts 2024-12-29T14:00:00+00:00",
        "❌ [MQTT] ERRO: P2002: Unique constraint failed on the fields: "
        "(`equipamento_id`,`ts`) - equipamento inv-02, ts 2024-12-29T14:00:00+00:00",
    ]
    logs.put_log_events(
        logGroupName=group,
        logStreamName="b",
        logEvents=[{"timestamp": at + n, "message": line} for n, line in enumerate(lines)],
    )
    p.clock.advance(60)

    assert transitions(routed, "aupus-mqtt-p2002") == [("OK", "ALARM")]
    data = json.loads(routed[-1]["detail"]["state"]["reasonData"])
    assert data["recentDatapoints"] == [2.0]  # Sum: two lines of P2002
    p.clock.advance(60)  # no more lines: notBreaching
    assert transitions(routed, "aupus-mqtt-p2002")[-1] == ("ALARM", "OK")


def test_the_local_cloudwatch_logs_refuses_what_aws_refuses(
    pipeline: tuple[Pipeline, list[dict[str, Any]]],
) -> None:
    """PutMetricFilter and PutTransformer answer as CloudWatch Logs does: a group that does
    not exist, a dimension that is not a field of the event, `applyOnTransformedLogs` on a
    group without a transformer, a transformer whose first processor is not a parser."""
    from botocore.exceptions import ClientError

    p, _ = pipeline
    logs = p.client("logs")
    t = {"metricName": "M", "metricNamespace": "N", "metricValue": "1"}

    def refused(call: Any, **kw: Any) -> str:
        with pytest.raises(ClientError) as caught:
            call(**kw)
        return str(caught.value.response["Error"]["Code"])

    missing = refused(logs.put_metric_filter, logGroupName="/nope", filterName="f",
                      filterPattern="P2002", metricTransformations=[t])  # fmt: skip
    assert missing == "ResourceNotFoundException"
    logs.create_log_group(logGroupName="/plain")
    const = {**t, "dimensions": {"IngestionGroup": "aupus-mqtt"}}
    assert refused(logs.put_metric_filter, logGroupName="/plain", filterName="f",
                   filterPattern='{ $.message = "*P2002*" }',
                   metricTransformations=[const]) == "InvalidParameterException"  # fmt: skip
    assert refused(logs.put_metric_filter, logGroupName="/plain", filterName="f",
                   filterPattern='{ $.message = "*P2002*" }', metricTransformations=[t],
                   applyOnTransformedLogs=True) == "InvalidParameterException"  # fmt: skip
    add = {"addKeys": {"entries": [{"key": "k", "value": "v"}]}}
    assert refused(logs.put_transformer, logGroupIdentifier="/plain",
                   transformerConfig=[add]) == "InvalidParameterException"  # fmt: skip
    assert logs.describe_metric_filters(logGroupName="/plain")["metricFilters"] == []


def test_the_worlds_own_alarms_stay_the_worlds(
    pipeline: tuple[Pipeline, list[dict[str, Any]]],
) -> None:
    """orders-api-errors is the world's (OK exactly when the alias serves a healthy
    version); Errors datapoints do not move it, while the same datapoints move the alarm
    the pipeline created from `lambda-errors` for checkout-api."""
    p, routed = pipeline
    before = alarm(p, "orders-api-errors")["StateValue"]
    for fn in ("orders-api", "checkout-api"):
        put(p, "AWS/Lambda", "Errors", {"FunctionName": fn, "Resource": f"{fn}:live"}, 42)
    p.clock.advance(60)
    assert alarm(p, "orders-api-errors")["StateValue"] == before
    assert transitions(routed, "orders-api-errors") == []
    assert transitions(routed, "checkout-api-errors") == [("OK", "ALARM")]
