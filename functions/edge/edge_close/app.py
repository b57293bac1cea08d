"""The edge is back: close the incident with downtime and data-gap size, and tell
everyone who was paged that it is over (once: the ingress may have closed it at the
reconnect already, see `edge_incidents`). Never while the edge is still offline: a refused
ladder keeps its incident open and paged until the edge is back (`refusals`)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel
from selfheal_shared.core import audit, clock, config, notify
from selfheal_shared.core.outcomes import Outcome
from selfheal_shared.core.protocol import Run, remediator
from selfheal_shared.edge import edge_incidents, edge_registry, edges
from selfheal_shared.edge.edges import EdgeIncident as Incident


class CloseRequest(BaseModel):
    incident: Incident
    #: FIXED: the edge is back after a fix selfheal took and the edge confirmed
    #: (`commandId`: the restart/rollback it acknowledged, the renewal it got).
    #: NO_ACTION_NEEDED: back without a fix of selfheal's; recorded NOT_FIXED (recovered,
    #: not through selfheal) when it had been paged or sent an unconfirmed fix.
    #: SKIPPED_BY_GUARD: the ladder was refused (kill switch, dry-run, maintenance window,
    #: ...) and only paged; the edge is back by itself or a person closed the incident:
    #: closed the same way, never FIXED. Nothing closes an incident while its edge is still
    #: offline (issue 19).
    outcome: Literal[Outcome.FIXED, Outcome.NO_ACTION_NEEDED, Outcome.SKIPPED_BY_GUARD] = (
        Outcome.FIXED
    )
    resolvedBy: str = "reconnected"
    commandId: str | None = None


@remediator(CloseRequest, actor="edge_close", automation=edges.AUTOMATION, what="incident close")
def handler(run: Run[CloseRequest]) -> dict[str, Any]:
    req = run.request
    inc = req.incident
    if req.outcome == Outcome.SKIPPED_BY_GUARD:
        return _not_handled(run)
    fix = _confirmed_fix(req.commandId) if req.outcome == Outcome.FIXED else None
    if fix is None:
        outcome, what = _unaided(inc)
    else:
        outcome, what = Outcome.FIXED, fix
    closed = edge_incidents.close_on_return(
        inc.edgeId,
        actor="edge_close",
        execution=inc.executionId,
        resolved_by=req.resolvedBy,
        incident_id=inc.incidentId,
        outcome=outcome,
        what_fixed_it=what,
    )
    # Closed already (the ingress saw the reconnect first): that closure's numbers.
    gap = closed or edge_incidents.closure(inc.incidentId) or _gap_now(inc)
    gap = {k: gap[k] for k in GAP_FIELDS if k in gap}
    down = f"down {gap['downtimeMinutes']} min, {gap['samplesLost']} samples lost"
    if closed is None and outcome != Outcome.FIXED:
        # The ingress closed it at the reconnect without knowing who fixed it: say it here.
        notify.publish(
            "ops",
            subject=f"[selfheal] {inc.edgeId} back, {outcome}: {what}",
            message={
                "incidentId": inc.incidentId,
                "edgeId": inc.edgeId,
                "outcome": outcome.value,
                "whatFixedIt": what,
                **gap,
            },
        )
    run.record(
        edges.AUTOMATION,
        why=f"{inc.edgeId} reconnected ({req.resolvedBy})",
        result=f"closed: {down}; {what}",
        outcome=outcome,
        details={**gap, "whatFixedIt": what, "recovered": True},
    )
    return {"closed": True, "outcome": outcome.value, "whatFixedIt": what, **gap}


#: The fixes the ladder sends, by the prefix of their command id.
FIXES = {"restart-": "restart", "ota-rollback-": "OTA rollback", "renew-": "certificate renewal"}


def _confirmed_fix(command_id: str | None) -> str | None:
    """What fixed it, when selfheal's fix was confirmed: the edge acknowledged the restart or
    rollback (`ack#<id>`), or the renewal was delivered (the workflow routes here only then).
    None otherwise: the edge's return is not credited to selfheal."""
    for prefix, name in FIXES.items():
        if command_id and command_id.startswith(prefix):
            if prefix == "renew-":
                return f"selfheal's {name} ({command_id})"
            ack = edge_registry.get(f"ack#{command_id}")
            if ack is not None and ack.get("result") == "ok":
                return f"selfheal's {name}, acknowledged by the edge ({command_id})"
            return None
    return None


#: Audit actions of a fix sent to the edge (the probe is only a question).
SENT_FIXES = ("edge_restart", "edge_ota-rollback", "edge_renew_certificate")


def _unaided(inc: Incident) -> tuple[Outcome, str]:
    """Back without a confirmed fix of selfheal's: recovered by itself (NO_ACTION_NEEDED), or
    after the escalation / an unconfirmed fix (NOT_FIXED, recovered, not through selfheal)."""
    record = edge_registry.get(f"edge-incident#{inc.edgeId}") or {}
    paged = [p for p in str(record.get("paged", "")).split(",") if p]
    sent = [
        r["action"]
        for r in audit.history(inc.incidentId)
        if r["action"] in SENT_FIXES
        and r.get("outcome") not in (Outcome.SKIPPED_BY_GUARD, Outcome.NOT_FIXED)
    ]
    if paged:
        return Outcome.NOT_FIXED, (
            f"back after the escalation (paged {', '.join(paged)}), not through selfheal"
        )
    if sent:
        return Outcome.NOT_FIXED, (
            f"back by itself after {sent[-1]} (not confirmed by the edge): not credited to selfheal"
        )
    return Outcome.NO_ACTION_NEEDED, "recovered by itself: selfheal took no action"


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
    """The outage ended without automation: the guards refused it and people were paged.
    The incident closes with its downtime like any other (whoever saw the reconnect first),
    recorded SKIPPED_BY_GUARD: not fixed by automation. A person may have closed it while
    the edge is still offline: that closure stands, with no downtime to give."""
    req = run.request
    inc = req.incident
    edge = edge_registry.get(f"edge#{inc.edgeId}") or {}
    closed = edge_incidents.close_on_return(
        inc.edgeId,
        actor="edge_close",
        execution=inc.executionId,
        resolved_by=req.resolvedBy,
        incident_id=inc.incidentId,
    )
    gap = closed or edge_incidents.closure(inc.incidentId)
    if gap is None and edge.get("state") != "online":
        run.record(
            edges.AUTOMATION,
            why=f"the incident was closed while {inc.edgeId} is still offline",
            result=f"closed by a person; not handled by automation ({req.resolvedBy})",
            outcome=Outcome.SKIPPED_BY_GUARD,
        )
        return {"closed": True, "handled": False}
    gap = {k: v for k, v in (gap or _gap_now(inc)).items() if k in GAP_FIELDS}
    run.record(
        edges.AUTOMATION,
        why=f"{inc.edgeId} reconnected; automation was refused ({req.resolvedBy})",
        result=f"closed: down {gap['downtimeMinutes']} min, {gap['samplesLost']} samples lost; "
        "not fixed by automation",
        outcome=Outcome.SKIPPED_BY_GUARD,
        details=gap,
    )
    return {"closed": True, "handled": False, **gap}
