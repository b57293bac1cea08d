"""Open the edge incident: one ladder per edge incident, however many signals arrive.
An edge in autonomous mode (the site lost internet) is recorded, not treated."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field
from selfheal_shared.core import audit, protocol
from selfheal_shared.core.errors import InputInvalid
from selfheal_shared.core.handler import remediator
from selfheal_shared.core.models import parse
from selfheal_shared.core.outcomes import Outcome
from selfheal_shared.edge import edge_registry, edges


class EdgeDetail(BaseModel):
    edgeId: str = Field(pattern=f"^{edges.EDGE_ID}$")
    siteId: str = Field(min_length=1, max_length=64)
    state: Literal["offline", "autonomous", "online"] = "offline"
    reason: str = ""
    at: str


class OpenRequest(BaseModel):
    event: dict[str, Any]
    executionId: str = Field(min_length=1)


@remediator
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    req = parse(OpenRequest, event, "ladder start")
    detail = parse(EdgeDetail, req.event.get("detail"), "edge event detail")
    edge = edge_registry.get(f"edge#{detail.edgeId}") or {}
    # The site is the registry's, never the event's: an event naming another site must not
    # slip past this site's storm count.
    site = edge_registry.site_of(detail.edgeId)
    if site == "unknown":
        raise InputInvalid(
            f"detail.edgeId: {detail.edgeId!r} is not in the edge registry "
            f"(the event names site {detail.siteId!r}); no ladder for an unknown edge"
        )
    # When the outage started: the registry saw it happen; the event only says so.
    since = (edge.get("state") != "online" and edge.get("offlineSince")) or detail.at
    incident_id = edges.incident_id(detail.edgeId, datetime.fromisoformat(since))
    run = protocol.begin(
        req,
        actor="edge_open",
        automation=edges.AUTOMATION,
        incident_id=incident_id,
        execution_id=req.executionId,
        context=context,
    )
    incident = {
        "incidentId": incident_id,
        "executionId": req.executionId,
        "edgeId": detail.edgeId,
        "siteId": site,
        "offlineSince": since,
        "severity": edges.opening_severity(",".join(edges.active_alarms(edge))),
        "reason": detail.reason,
    }
    if incident["severity"] == "P1":
        run.record(
            "severity",
            why="the edge's last report had battery/safety alarms active: "
            + ",".join(sorted(edges.active_alarms(edge))),
            result="P1 (runbook 000 §6: over-temp, E-Stop, cell failure)",
        )
    if detail.siteId != site:
        run.record(
            "site_from_registry",
            why=f"the event names site {detail.siteId}; the edge registry says {site}",
            result=f"the incident is at {site}, the registry's site",
        )
    if edge.get("state") == "online":
        # Found healthy: nothing to do and nothing done; no guard refused anything.
        why = "edge is already back online"
        run.record(
            edges.AUTOMATION,
            why=why,
            result="nothing to do",
            outcome=Outcome.NO_ACTION_NEEDED,
        )
        return {
            "incident": incident,
            "verdict": "back",
            "reason": why,
            "outcome": Outcome.NO_ACTION_NEEDED,
        }
    if detail.state == "autonomous" or edge.get("mode") == "autonomous":
        run.record(
            edges.AUTOMATION,
            why="autonomous mode: the site lost internet; the edge runs on its cached config",
            result="recorded as P4, not an incident; no restart",
            outcome=Outcome.NO_ACTION_NEEDED,  # by design, not a guard's refusal
        )
        return {
            "incident": {**incident, "severity": "P4"},
            "verdict": "autonomous",
            "reason": "autonomous mode is by design (runbook 000 §1); not an incident",
            "outcome": Outcome.NO_ACTION_NEEDED,
        }
    holder = edge_registry.claim(
        f"edge-incident#{detail.edgeId}",
        {
            "incidentId": incident_id,
            "executionId": req.executionId,
            "offlineSince": since,
            "siteId": site,
            "paged": "",
            "replacementRequested": "",
        },
    )
    if holder is not None:
        # Recorded on the incident that holds the ladder, not on this run's.
        audit.record(
            incident_id=holder.get("incidentId", incident_id),
            execution=req.executionId,
            action=edges.AUTOMATION,
            actor="edge_open",
            why=f"another signal for an open incident (ladder {holder.get('executionId')})",
            result="duplicate signal ignored",
            outcome=Outcome.SKIPPED_BY_GUARD,
        )
        return {
            "incident": incident,
            "verdict": "duplicate",
            "reason": f"ladder already running: {holder.get('executionId')}",
            "outcome": Outcome.SKIPPED_BY_GUARD,
        }
    return {"incident": incident, "verdict": "open", "reason": detail.reason, "outcome": None}
