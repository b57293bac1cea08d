"""The paging side of the ladder: page L1/L2/L3 on the schedule of the incident's severity
now (runbook 000 §6: P3 until the edge has been offline more than 10 minutes, then P2; P1
from the start when a battery/safety alarm was active; per-severity override), send the
hardware replacement request once the evidence points to hardware, and tell the workflow
how long to wait before looking again. Only an operator's silence holds a page
(`refusals.quiet`): the kill switch, dry-run or a maintenance window stop the ladder's
actions, and a refused ladder is watched and paged here like any other (issue 19)."""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field
from selfheal_shared.core import audit, clock, config, notify, refusals
from selfheal_shared.core.outcomes import Outcome
from selfheal_shared.core.protocol import Run, recorded_steps, remediator
from selfheal_shared.edge import edge_pages, edge_registry, edges
from selfheal_shared.edge.edges import EdgeIncident as Incident

#: Never sleep longer than this between looks: a reconnect ends the ladder within it.
MAX_WAIT_SECONDS = 60
UNANSWERED = "agent_unreachable"


class WatchRequest(BaseModel):
    incident: Incident
    #: Kept for old inputs; a replacement is requested only when the evidence says hardware.
    requestReplacement: bool = False
    #: Look again no later than this (a queued restart's next slot).
    maxWaitSeconds: int = Field(default=MAX_WAIT_SECONDS, ge=1, le=MAX_WAIT_SECONDS)


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
    silence = refusals.quiet([inc.edgeId, *edges.silence_scopes(inc)])
    paged = [p for p in str(record.get("paged", "")).split(",") if p]
    overrides = edges.parse_page_minutes(config.env("SELFHEAL_EDGE_PAGE_MINUTES", ""))
    _note_unanswered(run, inc)
    severity, level, next_at = edges.next_page(inc.severity, minutes, paged, overrides)
    ladder = recorded_steps(inc.incidentId)
    message = {
        "incidentId": inc.incidentId,
        "edgeId": inc.edgeId,
        "siteId": inc.siteId,
        "offlineMinutes": round(minutes, 1),
        "severity": severity,
        "ladderSoFar": ladder,
    }
    was = str(record.get("severity") or inc.severity)
    if severity != was:
        edge_registry.update(pk, {"severity": severity})
        run.record(
            "severity",
            why=f"offline {minutes:.1f} min: P2 is an edge offline > 10 min (runbook 000 §6)",
            result=f"{was} -> {severity} (offline {minutes:.1f} min)",
        )
    if not record.get("replacementRequested") and not silence:
        _maybe_request_replacement(run, record, minutes, message)
    sent, acked = None, False
    if level and silence:
        run.record(
            f"page_{level}",
            why=f"silenced on {silence['scope']}: {silence.get('reason', '')}",
            result="page suppressed",
            outcome=Outcome.SKIPPED_BY_GUARD,
        )
        # Not marked as paged: once the silence ends, the page still goes out.
        level = None
    elif level and edge_pages.page(
        run,
        incident_id=inc.incidentId,
        began=datetime.fromisoformat(inc.offlineSince),
        severity=severity,
        level=level,
        subject=f"[selfheal] {severity} {inc.edgeId} offline {int(minutes)} min",
        message=message,
        why=f"offline {minutes:.0f} min ({severity} ladder)",
    ):
        paged.append(level)
        sent = level
    elif level:  # acknowledged: nobody more is paged; the ladder watches until it is back
        level, next_at, acked = None, None, True
    if level:
        edge_registry.update(pk, {"paged": ",".join(paged)})
        severity, level, next_at = edges.next_page(inc.severity, minutes, paged, overrides)
    exhausted = next_at is None and level is None and not acked
    cap = req.maxWaitSeconds
    wait = cap if next_at is None else max(1, min(cap, int((next_at - minutes) * 60) + 1))
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


def _maybe_request_replacement(
    run: Run[WatchRequest], record: dict[str, Any], minutes: float, message: dict[str, Any]
) -> None:
    """Runbook 000 §1 "Hardware com falha → Trocar hardware": only when the diagnosis found
    the edge unreachable and, now, its site's network is seen working for long enough."""
    inc = run.request.incident
    cause = str(record.get("cause", ""))
    if cause != "unreachable":
        return
    site_online = sum(
        1
        for e in edge_registry.edges_where(inc.siteId)
        if e["pk"] != f"edge#{inc.edgeId}" and e.get("state") == "online"
    )
    after = float(config.env("SELFHEAL_EDGE_REPLACE_AFTER_MINUTES", "30"))
    evidence = edges.hardware_evidence(cause, minutes, site_online, after)
    if evidence is None:
        return
    notify.publish(
        "l2",
        subject=f"[selfheal] {inc.edgeId}: hardware replacement request",
        message={
            **message,
            "evidence": evidence,
            "request": "replace the edge controller; it provisions itself on power-up",
        },
    )
    edge_registry.update(
        f"edge-incident#{inc.edgeId}", {"replacementRequested": clock.now().isoformat()}
    )
    run.record(
        "hardware_replacement",
        why=f"{evidence}; diagnosis: {record.get('evidence', '')}",
        result="replacement requested from L2 / field maintenance",
        outcome=Outcome.ESCALATED,
        details={"evidence": evidence, "ladderSoFar": message["ladderSoFar"]},
    )
