"""The edge is back: close the incident with downtime and data-gap size, and tell
everyone who was paged that it is over."""

from __future__ import annotations

import os
from datetime import datetime
from typing import Any

from pydantic import BaseModel
from selfheal_shared import audit, clock, edge_registry, edges, notify
from selfheal_shared.edges import EdgeIncident as Incident
from selfheal_shared.handler import remediator
from selfheal_shared.models import parse
from selfheal_shared.outcomes import Outcome


class CloseRequest(BaseModel):
    incident: Incident
    resolvedBy: str = "reconnected"


@remediator
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    req = parse(CloseRequest, event, "incident close")
    inc = req.incident
    edge = edge_registry.get(f"edge#{inc.edgeId}") or {}
    back_at = datetime.fromisoformat(edge.get("since") or clock.now().isoformat())
    gap = edges.data_gap(
        datetime.fromisoformat(inc.offlineSince),
        back_at,
        interval_seconds=float(os.environ.get("SELFHEAL_TELEMETRY_INTERVAL_SECONDS", "5")),
        buffered=int(edge.get("bufferedSamples", 0) or 0),
    )
    pk = f"edge-incident#{inc.edgeId}"
    record = edge_registry.get(pk) or {}
    edge_registry.close(pk, {"closedAt": clock.now().isoformat(), **gap})
    audit.record(
        incident_id=inc.incidentId,
        execution=inc.executionId,
        action=edges.AUTOMATION,
        actor="edge_close",
        why=f"{inc.edgeId} reconnected ({req.resolvedBy})",
        result=f"closed: down {gap['downtimeMinutes']} min, {gap['samplesLost']} samples lost",
        outcome=Outcome.FIXED,
        details=gap,
    )
    paged = [p for p in str(record.get("paged", "")).split(",") if p]
    for level in ["ops", *paged]:
        notify.publish(
            level,
            subject=f"[selfheal] RESOLVED {inc.edgeId} back after {gap['downtimeMinutes']} min",
            message={"incidentId": inc.incidentId, "edgeId": inc.edgeId, **gap},
        )
    return {"closed": True, **gap}
