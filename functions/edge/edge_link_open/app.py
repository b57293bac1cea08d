"""Open a link-loss incident: COMMUNICATION_LOSS from a controller that is connected
(`link_loss`). Say which link is lost, from the alarm and the edge's last telemetry, and
record it; nothing is sent to the edge (a restart of the controller fixes no BMS or
inverter link)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field
from selfheal_shared.core.errors import InputInvalid, excerpt
from selfheal_shared.core.handler import remediator
from selfheal_shared.core.models import parse
from selfheal_shared.core.protocol import begin
from selfheal_shared.edge import edge_registry, link_loss


class OpenRequest(BaseModel):
    event: dict[str, Any]
    executionId: str = Field(min_length=1)


@remediator
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    req = parse(OpenRequest, event, "link loss start")
    alarm = parse(link_loss.LinkAlarm, req.event.get("detail"), "detail")
    if not alarm.controllerConnected:
        raise InputInvalid("detail.controllerConnected: false; the offline ladder takes it")
    if edge_registry.site_of(alarm.edgeId) == "unknown":
        raise InputInvalid(f"detail.edgeId: {excerpt(alarm.edgeId)} is not in the edge registry")
    edge = edge_registry.get(f"edge#{alarm.edgeId}") or {}
    link, evidence = link_loss.diagnose(alarm.reason, edge)
    incident = link_loss.LinkIncident(
        incidentId=link_loss.incident_id(alarm.edgeId, alarm.raisedAt),
        executionId=req.executionId,
        edgeId=alarm.edgeId,
        siteId=alarm.siteId,
        severity=alarm.severity,
        raisedAt=alarm.raisedAt,
        link=link,
        evidence=evidence,
    )
    run = begin(
        incident,
        actor="edge_link_open",
        automation=link_loss.AUTOMATION,
        incident_id=incident.incidentId,
        execution_id=req.executionId,
        scopes=link_loss.scopes(incident),
        context=context,
    )
    run.record(
        "diagnosis",
        why=f"COMMUNICATION_LOSS while the controller is connected to the cloud; {evidence}",
        result=f"link lost: {link}; no restart of the controller (its cloud link works); "
        f"{alarm.severity} paged on its clock while the alarm stays active",
        details={"link": link, "evidence": evidence},
    )
    return {"incident": incident.model_dump()}
