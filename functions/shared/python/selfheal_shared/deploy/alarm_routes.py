"""Which function a 5xx alarm is about (runbook 001 D1), when the alarm does not say.

A Lambda `Errors` alarm names its function. An API Gateway `5XXError` alarm names an API
and a stage: the function is the one the stage's Lambda integrations invoke. A composite
alarm names child alarms in its rule: the function is the one its children in ALARM point
at. When that is not one function behind one alias, the answer says why, so the workflow
pages people with the reason instead of guessing (or doing nothing at all).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..core.clients import client
from ..core.errors import InputInvalid, excerpt
from . import rollback

if TYPE_CHECKING:
    from ..core.alarm_event import AlarmStateChangeEvent

#: Composite alarms may nest; deeper than this is not followed.
MAX_DEPTH = 3
#: DescribeAlarms takes at most 100 names per call.
MAX_CHILDREN = 100


@dataclass(frozen=True)
class Route:
    """A function and the alias that serves it, or why there is none (`unroutable`)."""

    function: str = ""
    #: The alias the integration invokes; "" when the alarm itself tells (Lambda alarms).
    alias: str = ""
    via: list[str] = field(default_factory=list)
    unroutable: str = ""


def _cannot(reason: str, via: list[str] | None = None) -> Route:
    return Route(via=via or [], unroutable=reason)


def describe(names: list[str]) -> dict[str, dict[str, Any]]:
    """Metric and composite alarms by name. Composites are returned only to a caller allowed
    cloudwatch:DescribeAlarms on "*" (an AWS rule), hence that grant in function.json."""
    found: dict[str, dict[str, Any]] = {}
    cw = client("cloudwatch")
    for start in range(0, len(names), MAX_CHILDREN):
        resp = cw.describe_alarms(
            AlarmNames=names[start : start + MAX_CHILDREN],
            AlarmTypes=["MetricAlarm", "CompositeAlarm"],
        )
        for alarm in resp.get("MetricAlarms", []) + resp.get("CompositeAlarms", []):
            found[alarm["AlarmName"]] = alarm
    return found


def of_event(alarm: AlarmStateChangeEvent, described: dict[str, Any]) -> Route:
    """The route of the alarm the event is about; `described` is that alarm as CloudWatch
    has it now (already checked to exist and be in ALARM)."""
    if "AlarmRule" in described:
        return _of_composite(described, depth=1)
    metric = next(
        (m.metricStat.metric for m in alarm.detail.configuration.metrics if m.metricStat), None
    )
    if metric is None:
        raise InputInvalid("detail.configuration.metrics: no metricStat; cannot tell the target")
    kind = rollback.d1_metric(metric.namespace, metric.name, metric.dimensions)
    if kind == "rest_api":
        return _of_rest_api(metric.dimensions)
    if kind == "http_api":
        return _cannot(
            f"HTTP API {excerpt(metric.dimensions.get('ApiId'))}: this automation does not "
            "resolve HTTP API integrations to a function; roll back by hand"
        )
    # A Lambda alarm, or a malformed one: function_name() names the missing dimension.
    return Route(function=rollback.function_name(alarm))


def _of_metric_alarm(alarm: dict[str, Any]) -> Route:
    dims = {d["Name"]: d["Value"] for d in alarm.get("Dimensions", [])}
    kind = rollback.d1_metric(alarm.get("Namespace"), str(alarm.get("MetricName")), dims)
    if kind == "lambda":
        resource = dims.get("Resource", "")
        alias = resource.split(":", 1)[1] if ":" in resource else ""
        return Route(function=dims["FunctionName"], alias=alias)
    if kind == "rest_api":
        return _of_rest_api(dims)
    return _cannot(
        f"alarm {alarm['AlarmName']} watches {alarm.get('Namespace')} "
        f"{alarm.get('MetricName')}, not Lambda Errors or API Gateway 5XXError"
    )


def _of_composite(composite: dict[str, Any], depth: int) -> Route:
    name = composite["AlarmName"]
    children = rollback.alarm_rule_children(str(composite["AlarmRule"]))
    if not children:
        return _cannot(f"composite alarm {name}: its rule names no ALARM(...) child")
    found = describe(children)
    firing = [found[c] for c in children if c in found and found[c]["StateValue"] == "ALARM"]
    if not firing:
        return _cannot(
            f"composite alarm {name}: none of its children ({', '.join(children)}) is in ALARM"
        )
    routes: list[tuple[str, Route]] = []
    for child in firing:
        if "AlarmRule" in child:
            route = (
                _of_composite(child, depth + 1)
                if depth < MAX_DEPTH
                else _cannot(f"composite alarm {child['AlarmName']} nests deeper than {MAX_DEPTH}")
            )
        else:
            route = _of_metric_alarm(child)
        routes.append((child["AlarmName"], route))
    found_targets = {(r.function, r.alias) for _, r in routes if not r.unroutable}
    if len(found_targets) == 1:
        child_name, route = next((c, r) for c, r in routes if not r.unroutable)
        return Route(
            function=route.function,
            alias=route.alias,
            via=[f"composite alarm {name}: child {child_name} in ALARM", *route.via],
        )
    if not found_targets:
        return _cannot(
            f"composite alarm {name}: no child in ALARM leads to one function ("
            + "; ".join(r.unroutable for _, r in routes)
            + ")"
        )
    listed = ", ".join(sorted(f"{f}:{a}" if a else f for f, a in found_targets))
    return _cannot(
        f"composite alarm {name}: its children in ALARM point at several functions ({listed}); "
        "which one to roll back is for people to decide"
    )


def _rest_api_id(name: str) -> tuple[str | None, str]:
    apis = [
        api
        for page in client("apigateway").get_paginator("get_rest_apis").paginate()
        for api in page.get("items", [])
        if api.get("name") == name
    ]
    if len(apis) == 1:
        return str(apis[0]["id"]), ""
    if not apis:
        return None, f"no REST API named {excerpt(name)} in this account/region"
    return None, f"{len(apis)} REST APIs are named {excerpt(name)}; cannot tell which one"


def _stage(api_id: str, api: str, stage: str | None) -> tuple[dict[str, Any] | None, str]:
    ag = client("apigateway")
    if stage:
        try:
            return dict(ag.get_stage(restApiId=api_id, stageName=stage)), ""
        except ag.exceptions.NotFoundException:
            return None, f"REST API {api} has no stage {excerpt(stage)}"
    stages = ag.get_stages(restApiId=api_id).get("item", [])
    if len(stages) == 1:
        return dict(stages[0]), ""
    return None, (
        f"the alarm covers every stage of REST API {api} (no Stage dimension) and it has "
        f"{len(stages)} stages; cannot tell which one"
    )


def _integrations(
    api_id: str, path: str | None, method: str | None
) -> list[tuple[str, str, dict[str, Any]]]:
    """(path, method, integration) of every method, or of the one the alarm's `Resource` /
    `Method` dimensions name (detailed metrics)."""
    ag = client("apigateway")
    out = []
    pages = ag.get_paginator("get_resources").paginate(restApiId=api_id, embed=["methods"])
    for resource in (r for page in pages for r in page.get("items", [])):
        if path and resource.get("path") != path:
            continue
        for verb, spec in (resource.get("resourceMethods") or {}).items():
            if method and verb != method:
                continue
            integration = spec.get("methodIntegration") or ag.get_integration(
                restApiId=api_id, resourceId=resource["id"], httpMethod=verb
            )
            out.append((str(resource.get("path")), verb, dict(integration)))
    return out


def _of_rest_api(dims: dict[str, str]) -> Route:
    api = dims["ApiName"]
    api_id, problem = _rest_api_id(api)
    if api_id is None:
        return _cannot(problem)
    stage, problem = _stage(api_id, api, dims.get("Stage"))
    if stage is None:
        return _cannot(problem)
    where = f"REST API {api} stage {stage['stageName']}"
    variables = dict(stage.get("variables") or {})
    targets: dict[tuple[str, str | None], list[str]] = {}
    others: list[str] = []
    for path, verb, integration in _integrations(api_id, dims.get("Resource"), dims.get("Method")):
        if integration.get("type") not in ("AWS", "AWS_PROXY") or ":lambda:path/" not in str(
            integration.get("uri", "")
        ):
            others.append(f"{verb} {path} ({integration.get('type')})")
            continue
        try:
            target = rollback.lambda_of_integration(str(integration["uri"]), variables)
        except InputInvalid as exc:
            return _cannot(f"{where}: {verb} {path}: {exc}")
        targets.setdefault(target, []).append(f"{verb} {path}")
    if not targets:
        others_text = f": {', '.join(others)}" if others else ""
        return _cannot(f"{where} has no Lambda integration{others_text}")
    if len(targets) > 1:
        listed = "; ".join(
            f"{fn}:{q or '$LATEST'} ({', '.join(routes)})"
            for (fn, q), routes in sorted(targets.items(), key=lambda t: (t[0][0], t[0][1] or ""))
        )
        return _cannot(
            f"{where} integrates several functions ({listed}); its 5XXError metric does not "
            "say which one fails (alarm on the Resource/Method dimensions, or roll back by hand)"
        )
    [((function, qualifier), routes)] = targets.items()
    if not qualifier or qualifier.isdigit():
        what = f"version {qualifier}" if qualifier else "$LATEST (unqualified)"
        return _cannot(
            f"{where} invokes {function} {what}, not an alias: rolling an alias back would "
            "not change what the API calls"
        )
    return Route(
        function=function,
        alias=qualifier,
        via=[f"{where}: {', '.join(routes)} invoke {function}:{qualifier}"],
    )
