"""Look at an edge: is it back, did it acknowledge our command, what did it report."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel
from selfheal_shared.core import clock
from selfheal_shared.core.protocol import Run, remediator
from selfheal_shared.edge import edge_registry, edges
from selfheal_shared.edge.edges import EdgeIncident as Incident


class CheckRequest(BaseModel):
    incident: Incident
    commandId: str | None = None


@remediator(CheckRequest, actor="edge_check", automation=edges.AUTOMATION, what="edge check")
def handler(run: Run[CheckRequest]) -> dict[str, Any]:
    req = run.request
    edge = edge_registry.get(f"edge#{req.incident.edgeId}") or {}
    ack = edge_registry.get(f"ack#{req.commandId}") if req.commandId else None
    offline = clock.now() - datetime.fromisoformat(req.incident.offlineSince)
    return {
        "online": edge.get("state") == "online",
        "acked": ack is not None,
        "ackResult": (ack or {}).get("result", "none"),
        "ackDetail": (ack or {}).get("detail", ""),
        "certificate": edge.get("certificate", "unknown"),
        "partition": edge.get("partition", "unknown"),
        "offlineMinutes": round(offline.total_seconds() / 60, 2),
    }
