"""The edge is back: close the incident with downtime and data-gap size, and tell
everyone who was paged that it is over (once: the ingress may have closed it at the
reconnect already, see `edge_incidents`). Never while the edge is still offline: a refused
ladder keeps its incident open and paged until the edge is back (`refusals`)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel
from selfheal_shared.core import clock, config
from selfheal_shared.core.outcomes import Outcome
from selfheal_shared.core.protocol import Run, remediator
from selfheal_shared.edge import edge_incidents, edge_registry, edges
from selfheal_shared.edge.edges import EdgeIncident as Incident


class CloseRequest(BaseModel):
    incident: Incident
    #: FIXED: the edge is back after the ladder's work. SKIPPED_BY_GUARD: the ladder was
    #: refused (kill switch, dry-run, maintenance window, ...) and only paged; the edge is
    #: back by itself or a person closed the incident: closed the same way, never FIXED.
    #: Nothing closes an incident while its edge is still offline (issue 19).
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
