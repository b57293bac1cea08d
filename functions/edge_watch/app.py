"""The paging side of the ladder: page L1/L2/L3 as the outage crosses 10/30/60 minutes
(by severity, configurable), send the hardware replacement request once, and tell the
workflow how long to wait before looking again. Silences suppress every page."""

from __future__ import annotations

import json
import os
import re
from datetime import datetime
from typing import Any

from pydantic import BaseModel
from selfheal_shared import audit, clock, edge_registry, edges, guards, notify
from selfheal_shared.edges import EdgeIncident as Incident
from selfheal_shared.outcomes import Outcome
from selfheal_shared.protocol import Run, recorded_steps, remediator

#: Never sleep longer than this between looks: a reconnect ends the ladder within it.
MAX_WAIT_SECONDS = 60
UNANSWERED = "agent_unreachable"


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
    if edge.get("state") == "online" or _closed(record, inc):
        # Back (the reconnect may have closed the incident already, and the edge may even
        # be down again: that is a new incident with its own ladder, not this one's).
        return {"online": True, "exhausted": False, "waitSeconds": 0, "paged": None}
    minutes = (clock.now() - datetime.fromisoformat(inc.offlineSince)).total_seconds() / 60
    silence = guards.silenced([inc.edgeId, *edges.silence_scopes(inc)])
    paged = [p for p in str(record.get("paged", "")).split(",") if p]
    overrides = edges.parse_page_minutes(os.environ.get("SELFHEAL_EDGE_PAGE_MINUTES", "")) or None
    _note_unanswered(run, inc)
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
        # Not marked as paged: once the silence ends, the page still goes out.
        level = None
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


def _closed(record: dict[str, Any], inc: Incident) -> bool:
    return bool(record) and (
        record.get("incidentId") != inc.incidentId or record.get("status") != "open"
    )


#: A command the edge's agent acknowledges within this many seconds, or it was not heard.
ACK_SECONDS = 30
_SENT = re.compile(r"^sent (?P<command>[\w-]+) \((?P<id>[\w.:-]+)\)")


def _note_unanswered(run: Run[WatchRequest], inc: Incident) -> None:
    """A command nobody acknowledged is not "sent, pending": say the agent cannot be
    reached (once per command), so pages and the escalation tell what really happened."""
    history = audit.history(inc.incidentId)
    noted = {r["details"].get("commandId") for r in history if r["action"] == UNANSWERED}
    for rec in history:
        sent = _SENT.match(str(rec.get("result", "")))
        if not sent or sent["id"] in noted or edge_registry.get(f"ack#{sent['id']}"):
            continue
        age = (clock.now() - datetime.fromisoformat(rec["at"])).total_seconds()
        if age < ACK_SECONDS:
            continue
        run.record(
            UNANSWERED,
            why=f"{sent['command']} {sent['id']}: no acknowledgement in {int(age)} s",
            result=(
                f"{inc.edgeId}-agent cannot be reached: {sent['command']} was not "
                "delivered or not executed"
            ),
            outcome=Outcome.NOT_FIXED,
            details={"commandId": sent["id"], "command": sent["command"]},
        )
