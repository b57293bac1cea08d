"""Turn off the AppConfig feature flags a function's tags name as implicated."""

from __future__ import annotations

import json
from typing import Any

from botocore.exceptions import ClientError
from selfheal_shared import audit, rollback
from selfheal_shared.clients import client
from selfheal_shared.errors import ConcurrentChange
from selfheal_shared.models import Incident, parse
from selfheal_shared.observability import logger, tracer

ACTOR = "disable_flags"


@logger.inject_lambda_context(log_event=False)
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    incident = parse(Incident, event, "incident")
    logger.set_correlation_id(incident.incidentId)
    ff = incident.featureFlags
    if ff is None:
        return {"action": "disable_flags", "changed": [], "result": "no flags implicated"}
    ac = client("appconfig")
    versions = ac.list_hosted_configuration_versions(
        ApplicationId=ff.application, ConfigurationProfileId=ff.profile
    )["Items"]
    if not versions:
        return {"action": "disable_flags", "changed": [], "result": "profile has no configuration"}
    latest = max(int(v["VersionNumber"]) for v in versions)
    current = ac.get_hosted_configuration_version(
        ApplicationId=ff.application, ConfigurationProfileId=ff.profile, VersionNumber=latest
    )
    document = json.loads(current["Content"].read())
    updated, changed = rollback.disable_flags(document, ff.flags)
    if not changed:
        return {
            "action": "disable_flags",
            "changed": [],
            "result": f"flags {ff.flags} already off or unknown",
        }
    try:
        created = ac.create_hosted_configuration_version(
            ApplicationId=ff.application,
            ConfigurationProfileId=ff.profile,
            Content=json.dumps(updated).encode(),
            ContentType="application/json",
            LatestVersionNumber=latest,
            Description=f"selfheal {incident.incidentId}: disable {' '.join(changed)}",
        )
    except ClientError as exc:
        if exc.response["Error"]["Code"] in ("ConflictException", "PreconditionFailedException"):
            raise ConcurrentChange(f"flags of {ff.profile} changed while we edited them") from exc
        raise
    new_version = str(created["VersionNumber"])
    ac.start_deployment(
        ApplicationId=ff.application,
        EnvironmentId=ff.environment,
        DeploymentStrategyId=ff.strategy,
        ConfigurationProfileId=ff.profile,
        ConfigurationVersion=new_version,
        Description=f"selfheal {incident.incidentId}",
    )
    audit.record(
        incident_id=incident.incidentId,
        execution=incident.executionId,
        action="disable_flags",
        actor=ACTOR,
        why=f"flags named by {incident.functionName}'s tags while {incident.alarmName} is in ALARM",
        result=f"disabled {', '.join(changed)} (configuration version {new_version})",
        inverse={
            "api": "appconfig:StartDeployment",
            "ConfigurationVersion": str(latest),
            "ApplicationId": ff.application,
            "EnvironmentId": ff.environment,
            "ConfigurationProfileId": ff.profile,
        },
    )
    return {
        "action": "disable_flags",
        "changed": changed,
        "result": f"disabled {', '.join(changed)}",
    }
