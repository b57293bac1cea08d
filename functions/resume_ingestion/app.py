"""Resume after a human said so: re-enable exactly what the manifest lists, verify
it is on again, release the freeze lock. Stopped executions are listed for re-drive,
never restarted blindly."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel
from selfheal_shared import audit, ingestion
from selfheal_shared.clients import client
from selfheal_shared.config import settings
from selfheal_shared.errors import InputInvalid
from selfheal_shared.protocol import Run, remediator


class ResumeRequest(BaseModel):
    incident: ingestion.FreezeIncident
    decision: ingestion.Decision


def _manifest(incident_id: str) -> dict[str, Any]:
    records = [r for r in audit.history(incident_id) if r["action"] == "freeze_manifest"]
    if not records:
        raise InputInvalid(f"incident {incident_id}: no freeze manifest; nothing may be resumed")
    return dict(records[-1]["details"])


def _enable_rule(run: Run[ResumeRequest], rule: dict[str, Any], why: str) -> None:
    events = client("events")
    name, bus = rule["name"], rule["bus"]
    run.act(
        "resume_rules",
        target=run.request.incident.scope,
        why=why,
        plan=f"enable rule {name}",
        do=lambda: events.enable_rule(Name=name, EventBusName=bus),
        verify=lambda _: (
            None
            if events.describe_rule(Name=name, EventBusName=bus)["State"] == "ENABLED"
            else "the rule is still not ENABLED"
        ),
        result=f"enabled rule {name}",
        inverse={"api": "events:DisableRule", "Name": name, "bus": bus},
    )


def _enable_mapping(run: Run[ResumeRequest], m: dict[str, Any], why: str) -> None:
    lam = client("lambda")
    uuid = m["uuid"]
    run.act(
        "resume_mappings",
        target=run.request.incident.scope,
        why=why,
        plan=f"enable {ingestion.describe_mapping(m)}",
        do=lambda: lam.update_event_source_mapping(UUID=uuid, Enabled=True),
        verify=lambda _: (
            None
            if lam.get_event_source_mapping(UUID=uuid)["State"] in ("Enabled", "Enabling")
            else "the mapping is still not enabled"
        ),
        result=f"enabled {ingestion.describe_mapping(m)}",
        inverse={"api": "lambda:UpdateEventSourceMapping Enabled=false", "UUID": uuid},
    )


@remediator(
    ResumeRequest, actor="resume_ingestion", automation=ingestion.AUTOMATION, what="resume request"
)
def handler(run: Run[ResumeRequest]) -> dict[str, Any]:
    req = run.request
    inc = req.incident
    if req.decision.decision != "resume":
        raise InputInvalid(f"decision.decision: {req.decision.decision!r} does not resume")
    manifest = _manifest(inc.incidentId)
    why = f"{req.decision.operator} approved the resume" + (
        f": {req.decision.reason}" if req.decision.reason else ""
    )
    for rule in manifest["rules"]:
        _enable_rule(run, rule, why)
    for m in manifest["mappings"]:
        _enable_mapping(run, m, why)
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
    run.record(
        "resume_ingestion",
        why=why,
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
