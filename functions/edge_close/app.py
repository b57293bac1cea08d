"""The edge is back: close the incident with downtime and data-gap size, and tell
everyone who was paged that it is over (once: the ingress may have closed it at the
reconnect already, see `edge_incidents`)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel
from selfheal_shared import clock, config, edge_incidents, edge_registry, edges, notify
from selfheal_shared.edges import EdgeIncident as Incident
from selfheal_shared.outcomes import Outcome
from selfheal_shared.protocol import Run, remediator


class CloseRequest(BaseModel):
    incident: Incident
    #: FIXED: the edge is back. SKIPPED_BY_GUARD: a guard refused the ladder; the incident
    #: is closed for automation (a later outage opens a new one), not resolved.
    outcome: Literal[Outcome.FIXED, Outcome.SKIPPED_BY_GUARD] = Outcome.FIXED
    resolvedBy: str = "reconnected"


@remediator(CloseRequest, actor="edge_close", automation=edges.AUTOMATION, what="incident close")
def handler(run: Run[CloseRequest]) -> dict[str, Any]:
    req = run.request
    inc = req.incident
    if req.outcome == Outcome.SKIPPED_BY_GUARD:
        return _not_handled(run)
    closed = edge_incidents.close_on_return(
        inc.edgeId,
        actor="edge_close",
        execution=inc.executionId,
        resolved_by=req.resolvedBy,
        incident_id=inc.incidentId,
    )
    # Closed already (the ingress saw the reconnect first): that closure's numbers.
    gap = closed or edge_incidents.closure(inc.incidentId) or _gap_now(inc)
    gap = {k: gap[k] for k in GAP_FIELDS if k in gap}
    run.record(
        edges.AUTOMATION,
        why=f"{inc.edgeId} reconnected ({req.resolvedBy})",
        result=f"closed: down {gap['downtimeMinutes']} min, {gap['samplesLost']} samples lost",
        outcome=Outcome.FIXED,
        details=gap,
    )
    return {"closed": True, **gap}


GAP_FIELDS = ("downtimeMinutes", "gapSeconds", "samplesExpected", "samplesBuffered", "samplesLost")


def _gap_now(inc: Incident) -> dict[str, Any]:
    edge = edge_registry.get(f"edge#{inc.edgeId}") or {}
    return edges.data_gap(
        datetime.fromisoformat(inc.offlineSince),
        datetime.fromisoformat(edge.get("since") or clock.now().isoformat()),
        interval_seconds=float(config.env("SELFHEAL_TELEMETRY_INTERVAL_SECONDS", "5")),
        buffered=int(edge.get("bufferedSamples", 0) or 0),
    )


def _not_handled(run: Run[CloseRequest]) -> dict[str, Any]:
    req = run.request
    inc = req.incident
    edge_registry.close(f"edge-incident#{inc.edgeId}", {"closedAt": clock.now().isoformat()})
    run.record(
        edges.AUTOMATION,
        why=req.resolvedBy,
        result=f"not handled: {inc.edgeId} is still offline; no action taken",
        outcome=Outcome.SKIPPED_BY_GUARD,
    )
    notify.publish(
        "ops",
        subject=f"[selfheal] {inc.edgeId} offline, not handled by automation",
        message={"incidentId": inc.incidentId, "edgeId": inc.edgeId, "reason": req.resolvedBy},
    )
    return {"closed": True, "handled": False}
