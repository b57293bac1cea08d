"""Open a critical-failure incident (runbook 001 "Falha Crítica do Sistema"): from the
alarm on a critical function, or a manual start `{reason, requestedBy}` (refused naming the
field). Then survey, reading only: the CodeDeploy deployments InProgress and the
non-critical flags that are on, so the guards see the plan before anything acts."""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, Field
from selfheal_shared.core import clock, protocol, targets
from selfheal_shared.core.alarm_event import AlarmStateChangeEvent
from selfheal_shared.core.clients import client
from selfheal_shared.core.errors import InputInvalid
from selfheal_shared.core.handler import remediator
from selfheal_shared.core.models import parse
from selfheal_shared.deploy import critical
from selfheal_shared.deploy.critical import CriticalIncident, FlagsOn
from selfheal_shared.platform import maintenance_window as mw


class OpenRequest(BaseModel):
    #: The execution input as EventBridge delivered it, or as an operator started it.
    input: Any = None
    executionId: str = Field(min_length=1)


def _in_progress(applications: list[str]) -> list[str]:
    """`application/group/id` of every deployment InProgress. ListDeployments takes an
    application only together with a group (AWS refuses one without the other), so each
    group of each application is asked, as the runbook's list asks of the application."""
    cd = client("codedeploy")
    found: list[str] = []
    for app in applications:
        groups = cd.list_deployment_groups(applicationName=app)["deploymentGroups"]
        for group in groups:
            ids = cd.list_deployments(
                applicationName=app,
                deploymentGroupName=group,
                includeOnlyStatuses=["InProgress"],
            )["deployments"]
            found += [f"{app}/{group}/{dep}" for dep in ids]
    return found


def _named(pages: Any, kind: str, name: str, field: str, where: str) -> str:
    """The id of the one item called `name` across every page; refused naming the field."""
    ids = [i["Id"] for page in pages for i in page["Items"] if i["Name"] == name]
    if len(ids) != 1:
        raise InputInvalid(
            f"{critical.CONFIG} appconfig.{field}: {len(ids)} {kind} are named {name!r}{where}"
        )
    return str(ids[0])


def _ids(where: critical.AppConfigLocation) -> tuple[str, str, str]:
    """Application, environment and profile ids: the configuration names them as deployed,
    and AppConfig's calls take ids (an environment's is `[a-z0-9]{4,7}`, never its name)."""
    ac = client("appconfig")
    app = _named(
        ac.get_paginator("list_applications").paginate(),
        "AppConfig applications",
        where.application,
        "application",
        "",
    )
    inside = f" in {where.application}"
    env = _named(
        ac.get_paginator("list_environments").paginate(ApplicationId=app),
        "environments",
        where.environment,
        "environment",
        inside,
    )
    profile = _named(
        ac.get_paginator("list_configuration_profiles").paginate(ApplicationId=app),
        "profiles",
        where.profile,
        "profile",
        inside,
    )
    return app, env, profile


def _flags_on(cfg: critical.CriticalConfig) -> FlagsOn:
    where = cfg.appconfig
    app, env, profile = _ids(where)
    ac = client("appconfig")
    pages = ac.get_paginator("list_deployments").paginate(ApplicationId=app, EnvironmentId=env)
    mine = [
        d
        for page in pages
        for d in page["Items"]
        if d.get("ConfigurationProfileId") == profile
        and d.get("State") in ("COMPLETE", "DEPLOYING", "BAKING")
    ]
    base = FlagsOn(application=app, environment=env, profile=profile, strategy=where.strategy)
    if not mine:
        return base.model_copy(update={"unknown": list(cfg.nonCriticalFlags)})
    version = int(max(mine, key=lambda d: d["DeploymentNumber"])["ConfigurationVersion"])
    doc = json.loads(
        ac.get_hosted_configuration_version(
            ApplicationId=app, ConfigurationProfileId=profile, VersionNumber=version
        )["Content"].read()
    )
    known, values = doc.get("flags", {}), doc.get("values", {})
    return base.model_copy(
        update={
            "deployedVersion": version,
            "on": [
                f
                for f in cfg.nonCriticalFlags
                if f in known and values.get(f, {}).get("enabled", False)
            ],
            "unknown": [f for f in cfg.nonCriticalFlags if f not in known],
        }
    )


def _trigger(req: OpenRequest, cfg: critical.CriticalConfig) -> dict[str, Any]:
    raw = req.input
    if isinstance(raw, dict) and ("detail" in raw or "detail-type" in raw):
        alarm = parse(AlarmStateChangeEvent, raw, "CloudWatch alarm event")
        if alarm.detail.state.value != "ALARM":
            raise InputInvalid(
                f"detail.state.value: expected 'ALARM', got {alarm.detail.state.value!r}"
            )
        function = alarm.metric_dimensions().get("FunctionName", "")
        if function not in cfg.functions:
            # Only an alarm on a function the runbook names critical freezes the platform.
            raise InputInvalid(
                f"detail.configuration.metrics[].metricStat.metric.dimensions.FunctionName: "
                f"{function!r} is not a critical function of {critical.CONFIG} "
                f"({', '.join(cfg.functions)})"
            )
        targets.alarm_in_alarm(alarm)
        basis = f"{alarm.account}|{alarm.region}|{alarm.detail.alarmName}|"
        return {
            "incidentId": critical.incident_id(basis + alarm.detail.state.timestamp),
            "trigger": "alarm",
            "reason": f"alarm {alarm.detail.alarmName} in ALARM: {alarm.detail.state.reason}",
            "requestedBy": "alarm",
            "detectedAt": alarm.detail.state.timestamp,
            "alarmName": alarm.detail.alarmName,
        }
    manual = parse(critical.ManualStart, raw, "manual critical-failure input")
    return {
        "incidentId": critical.incident_id(f"manual|{req.executionId}"),
        "trigger": "manual",
        "reason": manual.reason,
        "requestedBy": manual.requestedBy,
        "detectedAt": clock.aws_time(clock.now()),
    }


@remediator
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    req = parse(OpenRequest, event, "critical-failure start")
    cfg = critical.config()
    opened = _trigger(req, cfg)
    run = protocol.begin(
        req,
        actor="critical_open",
        automation=critical.AUTOMATION,
        scopes=mw.calendar_scopes(req),
        incident_id=opened["incidentId"],
        execution_id=req.executionId,
        context=context,
    )
    incident = CriticalIncident(
        executionId=req.executionId,
        deployments=_in_progress(cfg.codedeployApplications),
        flags=_flags_on(cfg),
        **opened,
    )
    flags = incident.flags
    run.record(
        "survey",
        why=incident.reason,
        result=(
            f"{len(incident.deployments)} deployment(s) InProgress"
            f"{': ' + ', '.join(incident.deployments) if incident.deployments else ''}; "
            f"non-critical flags on: {', '.join(flags.on) or 'none'}"
            + (f"; not in the configuration: {', '.join(flags.unknown)}" if flags.unknown else "")
        ),
        details={"deployments": incident.deployments, "flags": flags.model_dump()},
    )
    return incident.model_dump()
