"""rollback_resolve on the alarms that do not name a function (runbook 001 D1, "API
retornando erros 5xx"): an API Gateway stage's integrations and a composite alarm's
children lead to one function behind an alias, or to an `unroutable` answer that says why
(the workflow pages L1 with it). Called in-process against the local world, one alarm each."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest

from local.lambda_adapter import LambdaContext, load_handler
from local.runtime import Pipeline, alarm_event, composite_alarm_event
from local.worlds import WorldSpec
from local.worlds.deploy import ApiRouteSpec

EXECUTION = "arn:aws:states:us-east-1:123456789012:execution:selfheal-sm-rollback-on-5xx:run-1"


def resolve(p: Pipeline, alarm_name: str) -> dict[str, Any]:
    """Put the alarm in ALARM (quietly, as the world's seed does) and resolve its event."""
    cw = p.client("cloudwatch")
    cw.set_alarm_state(AlarmName=alarm_name, StateValue="ALARM", StateReason="test")
    found = cw.describe_alarms(
        AlarmNames=[alarm_name], AlarmTypes=["MetricAlarm", "CompositeAlarm"]
    )
    alarm = (found["MetricAlarms"] + found["CompositeAlarms"])[0]
    make = composite_alarm_event if "AlarmRule" in alarm else alarm_event
    event = make(alarm, "ALARM", "OK", "test", p.clock.now())
    fn = p.spec.functions["rollback_resolve"]
    context = LambdaContext(
        function_name="selfheal-fn-rollback_resolve",
        invoked_function_arn="arn:aws:lambda:us-east-1:123456789012:function:x",
        memory_limit_in_mb=fn.memory_mb,
        timeout_seconds=fn.timeout_seconds,
        aws_request_id=str(uuid.uuid4()),
    )
    result: dict[str, Any] = load_handler(fn)({"event": event, "executionId": EXECUTION}, context)
    return result


def api_alarm(p: Pipeline, name: str, **dimensions: str) -> str:
    namespace, metric = ("AWS/ApiGateway", "5xx") if "ApiId" in dimensions else (
        "AWS/ApiGateway", "5XXError"
    )  # fmt: skip
    p.client("cloudwatch").put_metric_alarm(
        AlarmName=name,
        Namespace=namespace,
        MetricName=metric,
        Dimensions=[{"Name": k, "Value": v} for k, v in dimensions.items()],
        Statistic="Sum",
        Period=60,
        EvaluationPeriods=1,
        Threshold=5,
        ComparisonOperator="GreaterThanOrEqualToThreshold",
    )
    return name


def two_functions(spec: WorldSpec) -> None:
    spec.apis[0].routes.append(ApiRouteSpec(path="orders", function="orders-api"))


def test_resource_and_method_dimensions_pick_one_integration(
    make_pipeline: Any, world_spec: WorldSpec
) -> None:
    """Detailed metrics (Resource, Method) say which integration fails, even when the stage
    integrates several functions."""
    two_functions(world_spec)
    p = make_pipeline(world_spec=world_spec)
    name = api_alarm(
        p, "orders-5xx", ApiName="storefront", Stage="prod", Resource="/orders", Method="GET"
    )

    incident = resolve(p, name)

    assert (incident["functionName"], incident["alias"]) == ("orders-api", "live")
    assert incident["resolvedVia"] == [
        "REST API storefront stage prod: GET /orders invoke orders-api:live"
    ]
    assert incident["diagnosis"]["first"] == "rollback"


Setup = Callable[[WorldSpec], None]


def http_only(spec: WorldSpec) -> None:
    spec.apis[0].routes = [ApiRouteSpec(path="catalog", uri="https://backend.example/catalog")]


def unqualified(spec: WorldSpec) -> None:
    for route in spec.apis[0].routes:
        route.qualifier = ""


def no_stage_variable(spec: WorldSpec) -> None:
    spec.apis[0].stageVariables = {}


@pytest.mark.parametrize(
    ("setup", "expected"),
    [
        (
            http_only,
            "REST API storefront stage prod has no Lambda integration: GET /catalog (HTTP_PROXY)",
        ),
        (unqualified, "invokes catalog-api $LATEST (unqualified), not an alias"),
        (
            no_stage_variable,
            "GET /catalog: integration uri: stage variable(s) catalogAlias not set",
        ),
        (two_functions, "integrates several functions"),
    ],
    ids=["http-integration", "unqualified", "missing-stage-variable", "several-functions"],
)
def test_a_stage_that_leads_to_no_single_alias_is_unroutable_with_the_reason(
    make_pipeline: Any, world_spec: WorldSpec, setup: Setup, expected: str
) -> None:
    setup(world_spec)
    p = make_pipeline(world_spec=world_spec)

    answer = resolve(p, "storefront-prod-5xx")

    assert expected in answer["unroutable"]
    assert "functionName" not in answer, "nothing to act on"


def test_a_function_behind_the_stage_outside_selfheals_care_is_unroutable(
    make_pipeline: Any, world_spec: WorldSpec
) -> None:
    """An API may front a function selfheal may not change (not tagged selfheal:managed)."""
    next(s for s in world_spec.services if s.function == "catalog-api").tags = {}
    p = make_pipeline(world_spec=world_spec)

    answer = resolve(p, "storefront-prod-5xx")

    assert answer["unroutable"].endswith(
        "function catalog-api is not tagged selfheal:managed=true; selfheal may not change it"
    )


def test_unknown_api_stage_and_http_api_are_unroutable(pipeline: Pipeline) -> None:
    ghost = api_alarm(pipeline, "ghost-5xx", ApiName="ghost", Stage="prod")
    stage = api_alarm(pipeline, "beta-5xx", ApiName="storefront", Stage="beta")
    http = api_alarm(pipeline, "http-5xx", ApiId="a1b2c3")

    assert (
        resolve(pipeline, ghost)["unroutable"] == "no REST API named 'ghost' in this account/region"
    )
    assert resolve(pipeline, stage)["unroutable"] == "REST API storefront has no stage 'beta'"
    assert "HTTP API 'a1b2c3'" in resolve(pipeline, http)["unroutable"]


def test_composite_with_no_child_in_alarm_is_unroutable(pipeline: Pipeline) -> None:
    cw = pipeline.client("cloudwatch")
    for child in ("storefront-prod-5xx", "catalog-api-errors"):
        cw.set_alarm_state(AlarmName=child, StateValue="OK", StateReason="test")

    answer = resolve(pipeline, "storefront-5xx")

    assert answer["unroutable"] == (
        "composite alarm storefront-5xx: none of its children "
        "(storefront-prod-5xx, catalog-api-errors) is in ALARM"
    )


def test_composite_child_lambda_alarm_gives_its_alias(pipeline: Pipeline) -> None:
    pipeline.extensions.put_composite_alarm("orders-5xx", "ALARM(orders-api-errors)")

    incident = resolve(pipeline, "orders-5xx")

    assert (incident["functionName"], incident["alias"]) == ("orders-api", "live")
    assert incident["resolvedVia"] == [
        "composite alarm orders-5xx: child orders-api-errors in ALARM"
    ]
