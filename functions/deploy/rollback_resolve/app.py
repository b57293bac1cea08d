"""Resolve a 5xx alarm into an incident: which function (named by a Lambda alarm, or found
behind an API Gateway stage or a composite alarm's children), which alias, what was
deployed, which flags are implicated, and which branch of the runbook that evidence picks.
An alarm that leads to no single function becomes an `Unroutable` answer with the reason,
which the workflow pages people with."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel, Field
from selfheal_shared.core import clock, protocol, targets
from selfheal_shared.core.alarm_event import AlarmStateChangeEvent
from selfheal_shared.core.clients import client
from selfheal_shared.core.config import settings
from selfheal_shared.core.errors import InputInvalid
from selfheal_shared.core.handler import remediator
from selfheal_shared.core.models import parse
from selfheal_shared.core.observability import logger
from selfheal_shared.deploy import alarm_routes, alias_history, flag_history, known_bad, rollback
from selfheal_shared.deploy.incident import Deployment, FeatureFlags, Incident


class Unroutable(BaseModel):
    """An alarm in ALARM that leads to no single function: people must decide."""

    incidentId: str
    executionId: str
    automation: str
    alarmName: str
    detectedAt: str
    unroutable: str
    resolvedVia: list[str]


class ResolveRequest(BaseModel):
    #: The execution input as EventBridge delivered it (or as an operator started it).
    event: dict[str, Any]
    executionId: str = Field(min_length=1)


def _tags(function_arn: str) -> dict[str, str]:
    return dict(client("lambda").list_tags(Resource=function_arn).get("Tags", {}))


def _versions(function_name: str) -> list[str]:
    pages = (
        client("lambda")
        .get_paginator("list_versions_by_function")
        .paginate(FunctionName=function_name)
    )
    return [v["Version"] for page in pages for v in page["Versions"]]


def _find_deployment(function_name: str, alias: str, tags: dict[str, str]) -> Deployment:
    app, group = tags.get(rollback.TAG_CODEDEPLOY_APP), tags.get(rollback.TAG_CODEDEPLOY_GROUP)
    if app and group:
        running = client("codedeploy").list_deployments(
            applicationName=app,
            deploymentGroupName=group,
            includeOnlyStatuses=list(rollback.ACTIVE_CODEDEPLOY),
        )["deployments"]
        if running:
            return Deployment(
                kind="codedeploy",
                deploymentId=running[0],
                reason=f"CodeDeploy deployment {running[0]} is in progress",
            )
    lam = client("lambda")
    try:
        current = lam.get_alias(FunctionName=function_name, Name=alias)["FunctionVersion"]
    except lam.exceptions.ResourceNotFoundException:
        return Deployment(kind="none", reason=f"function {function_name} has no alias {alias!r}")
    now, window = clock.now(), settings().recent_deploy_hours
    # The alias change is the deployment; it is after the version's publish, and only
    # CloudTrail knows when it was (an alias has no timestamp).
    changed_at = alias_history.alias_changed_at(
        function_name, alias, str(current), now - timedelta(hours=window), now
    )
    return rollback.alias_deployment(
        current=current,
        versions=_versions(function_name),
        changed_at=changed_at,
        now=now,
        recent_hours=window,
        known_bad=known_bad.bad_versions(function_name),
    )


def _implicated_flags(
    tagged: FeatureFlags | None, alarm_at: datetime
) -> tuple[FeatureFlags | None, str]:
    """The tagged flags an AppConfig deployment of the function's profile turned on in the
    window before the alarm (runbook 001 D1: a configuration problem), and the evidence."""
    if tagged is None:
        return None, ""
    window = settings().recent_deploy_hours
    on, seen = flag_history.implicated(tagged, alarm_at - timedelta(hours=window), alarm_at)
    looked = "; ".join(seen) or "no deployment of its profile"
    evidence = (
        f"flags {' '.join(tagged.flags)} are tagged {rollback.TAG_FLAGS} for the function; "
        f"in the {window} h before the alarm: {looked}"
    )
    if not on:
        return None, evidence
    return tagged.model_copy(update={"flags": on}), evidence


def _managed(route: alarm_routes.Route) -> alarm_routes.Route:
    """A function found behind an API stage or a composite may be outside selfheal's care:
    only one tagged `selfheal:managed=true` may be changed (the IAM condition says so too),
    so any other is for people, with the reason, before anything is tried."""
    lam = client("lambda")
    try:
        arn = lam.get_function(FunctionName=route.function)["Configuration"]["FunctionArn"]
    except lam.exceptions.ResourceNotFoundException:
        return alarm_routes.Route(
            via=route.via,
            unroutable=f"{'; '.join(route.via)}: function {route.function!r} does not exist",
        )
    if _tags(arn).get(rollback.TAG_MANAGED) != "true":
        return alarm_routes.Route(
            via=route.via,
            unroutable=f"{'; '.join(route.via)}: function {route.function} is not tagged "
            f"{rollback.TAG_MANAGED}=true; selfheal may not change it",
        )
    return route


@remediator
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    request = parse(ResolveRequest, event, "resolve request")
    alarm = parse(AlarmStateChangeEvent, request.event, "CloudWatch alarm event")
    if alarm.detail.state.value != "ALARM":
        raise InputInvalid(
            f"detail.state.value: expected 'ALARM', got {alarm.detail.state.value!r}"
        )
    incident_id = rollback.incident_id(alarm)
    logger.set_correlation_id(incident_id)
    route = alarm_routes.of_event(alarm, targets.alarm_in_alarm(alarm))
    run = protocol.begin(
        request,
        actor="rollback_resolve",
        automation=rollback.AUTOMATION,
        incident_id=incident_id,
        execution_id=request.executionId,
        context=context,
    )
    if not route.unroutable and route.via:
        route = _managed(route)
    if route.unroutable:
        run.record(
            "resolve_target",
            why=f"alarm {alarm.detail.alarmName} in ALARM",
            result=f"no single function to act on: {route.unroutable}",
        )
        return Unroutable(
            incidentId=incident_id,
            executionId=request.executionId,
            automation=rollback.AUTOMATION,
            alarmName=alarm.detail.alarmName,
            detectedAt=alarm.detail.state.timestamp,
            unroutable=route.unroutable,
            resolvedVia=route.via,
        ).model_dump()
    name = route.function
    lam = client("lambda")
    try:
        arn = lam.get_function(FunctionName=name)["Configuration"]["FunctionArn"]
    except lam.exceptions.ResourceNotFoundException:
        where = "; ".join(route.via) or "dimensions.FunctionName"
        raise InputInvalid(
            f"{where}: function {name!r} does not exist in this account/region"
        ) from None
    tags = _tags(arn)
    alias = route.alias or rollback.alias_for(alarm, tags)
    deployment = _find_deployment(name, alias, tags)
    flags, flags_evidence = _implicated_flags(
        rollback.feature_flags(tags), clock.parse_aws_time(alarm.detail.state.timestamp)
    )
    diagnosis = rollback.diagnose(deployment, flags, flags_evidence)
    incident = Incident(
        incidentId=incident_id,
        executionId=request.executionId,
        automation=rollback.AUTOMATION,
        alarmName=alarm.detail.alarmName,
        functionName=name,
        alias=alias,
        detectedAt=alarm.detail.state.timestamp,
        deployment=deployment,
        featureFlags=flags,
        diagnosis=diagnosis,
        resolvedVia=route.via,
    )
    # The evidence and the branch it picks, before anything acts (runbook 001 D1).
    run.record(
        "diagnose",
        why="; ".join([diagnosis.deployment, diagnosis.configuration]),
        result="; ".join([*route.via, diagnosis.summary]),
        details={"target": name, "first": diagnosis.first, "then": diagnosis.then},
    )
    logger.info("incident resolved", extra={"diagnosis": diagnosis.model_dump()})
    return incident.model_dump()
