"""The paging side of the ladder: page L1/L2/L3 as the outage crosses 10/30/60 minutes
(by severity, configurable), send the hardware replacement request once, and tell the
workflow how long to wait before looking again. Silences suppress every page."""

from __future__ import annotations

import json
import os
from datetime import datetime
from typing import Any

from pydantic import BaseModel
from selfheal_shared import clock, edge_registry, edges, guards, notify
from selfheal_shared.edges import EdgeIncident as Incident
from selfheal_shared.outcomes import Outcome
from selfheal_shared.protocol import Run, recorded_steps, remediator

#: Never sleep longer than this between looks: a reconnect ends the ladder within it.
MAX_WAIT_SECONDS = 60


class WatchRequest(BaseModel):
    incident: Incident
    requestReplacement: bool = False


@remediator(WatchRequest, actor="edge_watch", automation=edges.AUTOMATION, what="ladder watch")
def handler(run: Run[WatchRequest]) -> dict[str, Any]:
    req = run.request
    inc = req.incident
    pk = f"edge-incident#{inc.edgeId}"
    record = edge_registry.get(pk) or {}
    edge = edge_registry.get(f"edge#{inc.edgeId}") or {}
    if edge.get("state") == "online":
        return {"online": True, "exhausted": False, "waitSeconds": 0, "paged": None}
    minutes = (clock.now() - datetime.fromisoformat(inc.offlineSince)).total_seconds() / 60
    silence = guards.silenced([inc.edgeId, *edges.silence_scopes(inc)])
    paged = [p for p in str(record.get("paged", "")).split(",") if p]
    overrides = edges.parse_page_minutes(os.environ.get("SELFHEAL_EDGE_PAGE_MINUTES", "")) or None
    ladder = recorded_steps(inc.incidentId)
    message = {
        "incidentId": inc.incidentId,
        "edgeId": inc.edgeId,
        "siteId": inc.siteId,
        "offlineMinutes": round(minutes, 1),
        "severity": inc.severity,
        "ladderSoFar": ladder,
    }
    if req.requestReplacement and not record.get("replacementRequested") and not silence:
        notify.publish(
            "l2",
            subject=f"[selfheal] {inc.edgeId}: hardware replacement request",
            message={
                **message,
                "request": "replace the edge controller; it provisions itself on power-up",
            },
        )
        edge_registry._set(pk, {"replacementRequested": clock.now().isoformat()})
        run.record(
            "hardware_replacement",
            why="still offline after: " + ("; ".join(ladder) or "no step"),
            result="replacement requested from L2 / field maintenance",
            outcome=Outcome.ESCALATED,
        )
    level, next_at = edges.page_due(inc.severity, minutes, paged, overrides)
    sent = None
    if level and silence:
        run.record(
            f"page_{level}",
            why=f"silenced on {silence['scope']}: {silence.get('reason', '')}",
            result="page suppressed",
            outcome=Outcome.SKIPPED_BY_GUARD,
        )
        paged.append(level)
    elif level:
        notify.publish(
            level,
            subject=f"[selfheal] {inc.severity} {inc.edgeId} offline {int(minutes)} min",
            message=message,
        )
        run.record(
            f"page_{level}",
            why=f"offline {minutes:.0f} min ({inc.severity} ladder)",
            result=f"paged {level}",
            outcome=Outcome.ESCALATED,
        )
        paged.append(level)
        sent = level
    if level:
        edge_registry._set(pk, {"paged": ",".join(paged)})
        level, next_at = edges.page_due(inc.severity, minutes, paged, overrides)
    exhausted = next_at is None and level is None
    wait = (
        MAX_WAIT_SECONDS
        if next_at is None
        else max(1, min(MAX_WAIT_SECONDS, int((next_at - minutes) * 60) + 1))
    )
    return {
        "online": False,
        "exhausted": exhausted,
        "waitSeconds": wait,
        "paged": sent,
        "pagedSoFar": json.dumps(paged),
        "offlineMinutes": round(minutes, 2),
    }
