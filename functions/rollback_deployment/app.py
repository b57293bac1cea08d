"""Roll the alias back to the previous version, or stop a running CodeDeploy deployment
with rollback. Idempotent on the incident id: a duplicate event returns the first result."""

from __future__ import annotations

import os
from typing import Any

from aws_lambda_powertools.utilities.idempotency import IdempotencyConfig
from selfheal_shared import audit, guards
from selfheal_shared.clients import client
from selfheal_shared.errors import ConcurrentChange, InputInvalid
from selfheal_shared.handler import remediator
from selfheal_shared.idempotency import LazyDynamoDBPersistenceLayer, idempotent_function
from selfheal_shared.models import Incident, parse
from selfheal_shared.observability import logger

ACTOR = "rollback_deployment"
_persistence = LazyDynamoDBPersistenceLayer(
    table_name=os.environ.get("SELFHEAL_TABLE_IDEMPOTENCY", "unset"),
    key_attr="id",
)
_config = IdempotencyConfig(event_key_jmespath="incidentId", expires_after_seconds=24 * 3600)


def _roll_alias(incident: Incident) -> dict[str, Any]:
    dep = incident.deployment
    lam = client("lambda")
    live = lam.get_alias(FunctionName=incident.functionName, Name=incident.alias)["FunctionVersion"]
    if live == dep.toVersion:
        actions = {r["action"] for r in audit.history(incident.incidentId)}
        if "rollback_alias_intent" in actions and "rollback_alias" not in actions:
            # Our earlier attempt moved the alias but died before its audit record.
            _record_rollback(incident)
            return {
                "action": "rollback_alias",
                "changed": True,
                "result": f"alias {incident.alias}: {dep.fromVersion} -> {dep.toVersion}",
            }
        return {
            "action": "rollback_alias",
            "changed": False,
            "result": f"alias {incident.alias} already on version {live}",
        }
    if live != dep.fromVersion:
        raise ConcurrentChange(
            f"alias {incident.functionName}:{incident.alias} moved to {live} after the alarm "
            f"(expected {dep.fromVersion}); refusing to overwrite someone else's change"
        )
    audit.record(
        incident_id=incident.incidentId,
        execution=incident.executionId,
        action="rollback_alias_intent",
        actor=ACTOR,
        why="written before acting, so a crash between act and record is never silent",
        result=f"moving alias {incident.alias}: {dep.fromVersion} -> {dep.toVersion}",
    )
    lam.update_alias(
        FunctionName=incident.functionName, Name=incident.alias, FunctionVersion=str(dep.toVersion)
    )
    _record_rollback(incident)
    return {
        "action": "rollback_alias",
        "changed": True,
        "result": f"alias {incident.alias}: {dep.fromVersion} -> {dep.toVersion}",
    }


def _record_rollback(incident: Incident) -> None:
    dep = incident.deployment
    guards.mark_bad_version(incident.functionName, str(dep.fromVersion))
    audit.record(
        incident_id=incident.incidentId,
        execution=incident.executionId,
        action="rollback_alias",
        actor=ACTOR,
        why=f"alarm {incident.alarmName} in ALARM after {dep.reason}",
        result=f"alias {incident.alias}: {dep.fromVersion} -> {dep.toVersion}",
        inverse={
            "api": "lambda:UpdateAlias",
            "FunctionName": incident.functionName,
            "Name": incident.alias,
            "FunctionVersion": dep.fromVersion,
        },
    )


def _stop_codedeploy(incident: Incident) -> dict[str, Any]:
    dep_id = str(incident.deployment.deploymentId)
    cd = client("codedeploy")
    status = cd.get_deployment(deploymentId=dep_id)["deploymentInfo"]["status"]
    if status in ("Stopped", "Failed"):
        return {
            "action": "stop_codedeploy",
            "changed": False,
            "result": f"deployment {dep_id} already {status}",
        }
    resp = cd.stop_deployment(deploymentId=dep_id, autoRollbackEnabled=True)
    audit.record(
        incident_id=incident.incidentId,
        execution=incident.executionId,
        action="stop_codedeploy",
        actor=ACTOR,
        why=f"alarm {incident.alarmName} in ALARM during {dep_id}",
        result=f"stop requested with rollback: {resp.get('status')}",
        inverse={
            "api": "codedeploy:CreateDeployment",
            "note": f"redeploy the revision of {dep_id}",
        },
    )
    return {
        "action": "stop_codedeploy",
        "changed": True,
        "result": f"deployment {dep_id} stopped with rollback ({resp.get('status')})",
    }


@idempotent_function(
    data_keyword_argument="incident", persistence_store=_persistence, config=_config
)
def roll_back(incident: dict[str, Any]) -> dict[str, Any]:
    inc = parse(Incident, incident, "incident")
    if inc.deployment.kind == "alias":
        return _roll_alias(inc)
    if inc.deployment.kind == "codedeploy":
        return _stop_codedeploy(inc)
    raise InputInvalid("deployment.kind: 'none' has nothing to roll back")


@remediator
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    logger.set_correlation_id(event.get("incidentId"))
    _config.register_lambda_context(context)
    result = roll_back(incident=event)
    logger.info("rollback done", extra=result)
    return result
