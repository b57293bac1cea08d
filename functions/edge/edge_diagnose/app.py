"""Diagnose before acting (runbook 000 §1, "Diagnóstico" → "Resolução"): from the edge's
own reports, its agent's answer to a probe and its site's other edges, decide the one
cause the evidence points to, and record that evidence. The ladder applies only that
cause's fix."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel
from selfheal_shared.core.protocol import Run, remediator
from selfheal_shared.edge import edge_registry, edges
from selfheal_shared.edge.edges import EdgeIncident as Incident

#: What each cause leads to, for the record (the workflow's Choice does the routing).
FIX = {
    "back": "close the incident",
    "hung_process": "restart the edge process",
    "certificate_expired": "renew the MQTT certificate",
    "partition_bad": "OTA rollback",
    "unreachable": "nothing can reach it: page by severity; hardware replacement only if "
    "it stays silent while its site is online",
    "undetermined": "no fix points to it: page by severity",
}


class DiagnoseRequest(BaseModel):
    incident: Incident
    #: The probe sent to the edge's agent; its answer (or silence) is evidence.
    commandId: str | None = None


@remediator(DiagnoseRequest, actor="edge_diagnose", automation=edges.AUTOMATION, what="diagnosis")
def handler(run: Run[DiagnoseRequest]) -> dict[str, Any]:
    req = run.request
    inc = req.incident
    edge = edge_registry.get(f"edge#{inc.edgeId}") or {}
    ack = edge_registry.get(f"ack#{req.commandId}") if req.commandId else None
    others = [e for e in edge_registry.edges_where(inc.siteId) if e["pk"] != f"edge#{inc.edgeId}"]
    site_size, _ = edge_registry.fleet_sizes(inc.siteId)
    site_online = sum(1 for e in others if e.get("state") == "online")
    cause, evidence = edges.diagnose(
        online=edge.get("state") == "online",
        probe=ack,
        probe_id=req.commandId,
        certificate=str(edge.get("certificate", "unknown")),
        partition=str(edge.get("partition", "unknown")),
        site_online=site_online,
        site_size=site_size,
    )
    edge_registry.update(
        f"edge-incident#{inc.edgeId}",
        {"cause": cause, "evidence": "; ".join(evidence)},
    )
    run.record(
        "diagnosis",
        why="; ".join(evidence),
        result=f"cause: {cause} ({'; '.join(evidence)}) -> {FIX[cause]}",
        details={"cause": cause, "evidence": evidence, "siteOnline": site_online},
    )
    return {"cause": cause, "evidence": evidence, "siteOnline": site_online}
