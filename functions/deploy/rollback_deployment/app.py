"""Roll the alias back to the previous version, or stop a running CodeDeploy deployment
with rollback. Idempotent on the incident id: a duplicate event returns the first result."""

from __future__ import annotations

import os
from typing import Any

from aws_lambda_powertools.utilities.idempotency import IdempotencyConfig
from selfheal_shared.core import audit
from selfheal_shared.core.clients import client
from selfheal_shared.core.effects import INTENT_SUFFIX
from selfheal_shared.core.errors import ConcurrentChange, InputInvalid
from selfheal_shared.core.idempotency import LazyDynamoDBPersistenceLayer, idempotent_function
from selfheal_shared.core.observability import logger
from selfheal_shared.core.protocol import Run, remediator
from selfheal_shared.deploy import known_bad
from selfheal_shared.deploy.incident import Incident
from selfheal_shared.deploy.rollback import AUTOMATION
from selfheal_shared.platform import maintenance_window as mw

ACTOR = "rollback_deployment"
_persistence = LazyDynamoDBPersistenceLayer(
    table_name=os.environ.get("SELFHEAL_TABLE_IDEMPOTENCY", "unset"),
    key_attr="id",
)
_config = IdempotencyConfig(event_key_jmespath="incidentId", expires_after_seconds=24 * 3600)


def _roll_alias(run: Run[Incident]) -> dict[str, Any]:
    incident = run.request
    dep = incident.deployment
    lam = client("lambda")
    moved = f"alias {incident.alias}: {dep.fromVersion} -> {dep.toVersion}"

    def live() -> str:
        return str(
            lam.get_alias(FunctionName=incident.functionName, Name=incident.alias)[
                "FunctionVersion"
            ]
        )

    now_live = live()
    if now_live == dep.toVersion and not audit_says_ours(run):
        return {
            "action": "rollback_alias",
            "changed": False,
            "result": f"alias {incident.alias} already on version {now_live}",
        }
    if now_live not in (dep.fromVersion, dep.toVersion):
        raise ConcurrentChange(
            f"alias {incident.functionName}:{incident.alias} moved to {now_live} after the "
            f"alarm (expected {dep.fromVersion}); refusing to overwrite someone else's change"
        )

    def move(_key: str) -> str:
        lam.update_alias(
            FunctionName=incident.functionName,
            Name=incident.alias,
            FunctionVersion=str(dep.toVersion),
        )
        known_bad.mark_bad_version(incident.functionName, str(dep.fromVersion))
        return live()

    def moved_already(_key: str) -> str | None:
        """UpdateAlias to a fixed version: the alias on it is the effect, however it got
        there (a lost response, an attempt that died before its record)."""
        if live() != dep.toVersion:
            return None
        known_bad.mark_bad_version(incident.functionName, str(dep.fromVersion))
        return str(dep.toVersion)

    run.act(
        "rollback_alias",
        target=incident.functionName,
        why=_why(incident),
        plan=f"move {moved}",
        do=move,
        landed=moved_already,
        verify=lambda now_live: (
            None if now_live == dep.toVersion else f"alias serves {now_live} after the update"
        ),
        result=moved,
        inverse=_alias_inverse(incident),
    )
    return {"action": "rollback_alias", "changed": True, "result": moved}


def audit_says_ours(run: Run[Incident]) -> bool:
    """The alias is already where we would move it: did one of our attempts move it?"""
    return any(
        r["action"] == "rollback_alias" + INTENT_SUFFIX for r in audit.history(run.incident_id)
    )


def _why(incident: Incident) -> str:
    return f"alarm {incident.alarmName} in ALARM after {incident.deployment.reason}"


def _alias_inverse(incident: Incident) -> dict[str, Any]:
    return {
        "api": "lambda:UpdateAlias",
        "FunctionName": incident.functionName,
        "Name": incident.alias,
        "FunctionVersion": incident.deployment.fromVersion,
    }


def _stop_codedeploy(run: Run[Incident]) -> dict[str, Any]:
    incident = run.request
    dep_id = str(incident.deployment.deploymentId)
    cd = client("codedeploy")
    status = cd.get_deployment(deploymentId=dep_id)["deploymentInfo"]["status"]
    if status in ("Stopped", "Failed") and not run.pending(
        "stop_codedeploy", incident.functionName
    ):
        return {
            "action": "stop_codedeploy",
            "changed": False,
            "result": f"deployment {dep_id} already {status}",
        }
    resp = run.act(
        "stop_codedeploy",
        target=incident.functionName,
        why=f"alarm {incident.alarmName} in ALARM during {dep_id}",
        plan=f"stop deployment {dep_id} with rollback",
        do=lambda _key: cd.stop_deployment(deploymentId=dep_id, autoRollbackEnabled=True),
        landed=lambda _key: _stopped(cd, dep_id),
        result=lambda r: f"stop requested with rollback: {r.get('status')}",
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


def _stopped(cd: Any, dep_id: str) -> dict[str, Any] | None:
    """StopDeployment's effect: the deployment stopping or stopped (with its rollback)."""
    info = cd.get_deployment(deploymentId=dep_id)["deploymentInfo"]
    if info["status"] in ("Stopped", "Failed") or info.get("rollbackInfo"):
        return {"status": "Succeeded", "statusMessage": f"deployment {info['status']}"}
    return None


@idempotent_function(
    data_keyword_argument="incident", persistence_store=_persistence, config=_config
)
def roll_back(incident: dict[str, Any]) -> dict[str, Any]:
    """Idempotent on the incident id: a duplicate delivery returns the first result."""
    inc = Incident.model_validate(incident)
    run = Run(inc, ACTOR, AUTOMATION, inc.incidentId, inc.executionId)
    if run.request.deployment.kind == "alias":
        return _roll_alias(run)
    if run.request.deployment.kind == "codedeploy":
        return _stop_codedeploy(run)
    raise InputInvalid("deployment.kind: 'none' has nothing to roll back")


@remediator(
    Incident, actor=ACTOR, automation=AUTOMATION, what="incident", scopes=mw.calendar_scopes
)
def handler(run: Run[Incident]) -> dict[str, Any]:
    _config.register_lambda_context(run.context)
    result = roll_back(incident=run.request.model_dump())
    logger.info("rollback done", extra=result)
    return result
