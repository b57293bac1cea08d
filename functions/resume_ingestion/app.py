"""Resume after a human said so: re-enable exactly what the manifest lists, verify
it is on again, release the freeze lock. Stopped executions are listed for re-drive,
never restarted blindly."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel
from selfheal_shared import audit, ingestion
from selfheal_shared.clients import client
from selfheal_shared.config import settings
from selfheal_shared.errors import ActionFailed, InputInvalid
from selfheal_shared.handler import remediator
from selfheal_shared.models import parse
from selfheal_shared.observability import logger


class ResumeRequest(BaseModel):
    incident: ingestion.FreezeIncident
    decision: ingestion.Decision


def _manifest(incident_id: str) -> dict[str, Any]:
    records = [r for r in audit.history(incident_id) if r["action"] == "freeze_manifest"]
    if not records:
        raise InputInvalid(f"incident {incident_id}: no freeze manifest; nothing may be resumed")
    return dict(records[-1]["details"])


@remediator
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    req = parse(ResumeRequest, event, "resume request")
    inc = req.incident
    logger.set_correlation_id(inc.incidentId)
    if req.decision.decision != "resume":
        raise InputInvalid(f"decision.decision: {req.decision.decision!r} does not resume")
    manifest = _manifest(inc.incidentId)
    events, lam = client("events"), client("lambda")
    for rule in manifest["rules"]:
        events.enable_rule(Name=rule["name"], EventBusName=rule["bus"])
    for m in manifest["mappings"]:
        lam.update_event_source_mapping(UUID=m["uuid"], Enabled=True)
    not_on = [
        r["name"]
        for r in manifest["rules"]
        if events.describe_rule(Name=r["name"], EventBusName=r["bus"])["State"] != "ENABLED"
    ]
    not_on += [
        m["uuid"]
        for m in manifest["mappings"]
        if lam.get_event_source_mapping(UUID=m["uuid"])["State"] not in ("Enabled", "Enabling")
    ]
    if not_on:
        raise ActionFailed(f"resume did not take for: {', '.join(not_on)}")
    client("dynamodb").delete_item(
        TableName=settings().guard_table,
        Key={"pk": {"S": f"frozen#{inc.scope}"}},
        ConditionExpression="incidentId = :i",
        ExpressionAttributeValues={":i": {"S": inc.incidentId}},
    )
    result = {
        "rules": [r["name"] for r in manifest["rules"]],
        "mappings": [m["uuid"] for m in manifest["mappings"]],
        "executionsToRedrive": [e["executionArn"] for e in manifest["executions"]],
    }
    audit.record(
        incident_id=inc.incidentId,
        execution=inc.executionId,
        action="resume_ingestion",
        actor=f"resume_ingestion (approved by {req.decision.operator})",
        why=req.decision.reason or "operator approved the resume",
        result=f"re-enabled {len(result['rules'])} rules and {len(result['mappings'])} mappings "
        f"from the manifest; {len(result['executionsToRedrive'])} executions to re-drive",
        inverse={"api": "selfheal freeze_ingestion", "scope": inc.scope},
        details=result,
    )
    return {
        "action": "resume_ingestion",
        "changed": True,
        "result": f"resumed exactly the manifest ({len(result['rules'])} rules, "
        f"{len(result['mappings'])} mappings)",
        **result,
    }
