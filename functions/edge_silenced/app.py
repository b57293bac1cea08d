"""An edge outage under a silence or maintenance window (runbook 000 §6): the ladder
waits it out instead of ending. No action and no page while it lasts; if the edge comes
back meanwhile the incident closes as not handled (never FIXED, never "RESOLVED"); when
it ends and the edge is still offline, the ladder resumes from its guards. A silence set
while the ladder runs stops its next action (GuardRefused), which lands here too."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel
from selfheal_shared import clock, edge_incidents, edge_registry, edges, guards
from selfheal_shared.edges import EdgeIncident as Incident
from selfheal_shared.outcomes import Outcome
from selfheal_shared.protocol import Run, remediator

#: Look again at least this often: a longer silence is waited out in steps.
MAX_WAIT_SECONDS = 3600

State = Literal["silenced", "back", "over"]


class SilencedRequest(BaseModel):
    incident: Incident


@remediator(
    SilencedRequest, actor="edge_silenced", automation=edges.AUTOMATION, what="silenced outage"
)
def handler(run: Run[SilencedRequest]) -> dict[str, Any]:
    inc = run.request.incident
    pk = f"edge-incident#{inc.edgeId}"
    record = edge_registry.get(pk) or {}
    ours = record.get("incidentId") == inc.incidentId
    edge = edge_registry.get(f"edge#{inc.edgeId}") or {}
    window = guards.silenced([inc.edgeId, *edges.silence_scopes(inc)])
    if window and ours and record.get("silencedUntil") != window["endsAt"]:
        edge_registry.update(pk, {"silencedUntil": window["endsAt"], "resumedAt": ""})
        record = {**record, "silencedUntil": window["endsAt"], "resumedAt": ""}
    if not ours or record.get("status") != "open" or edge.get("state") == "online":
        return _back(run, inc, ours)
    if window:
        left = (datetime.fromisoformat(window["endsAt"]) - clock.now()).total_seconds()
        run.record(
            "silenced",
            why=f"{window['guard']} on {window['scope']} until {window['endsAt']}: "
            f"{window.get('reason', '')}",
            result=f"{inc.edgeId} offline, left alone: no action, no page; the ladder "
            "resumes when it ends if the edge is still offline",
            outcome=Outcome.SKIPPED_BY_GUARD,
        )
        return _out("silenced", wait=max(1, min(MAX_WAIT_SECONDS, int(left) + 1)))
    if not edge_incidents.silenced(record):
        # Here from an action a guard refused that is not a silence (kill switch, dry-run):
        # the guard step reads them again and decides.
        run.record(
            "guards_recheck",
            why="an action was refused by a guard that is not a silence",
            result="guards read again",
        )
        return _out("over")
    edge_registry.update(pk, {"resumedAt": clock.now().isoformat()})
    run.record(
        "silence_ended",
        why=f"the silence ended and {inc.edgeId} is still offline",
        result="the ladder resumes",
    )
    return _out("over")


def _back(run: Run[SilencedRequest], inc: Incident, ours: bool) -> dict[str, Any]:
    """Back during the silence: closed without remediation (the reconnect may have
    closed it already; the closure says "silenced", not "RESOLVED")."""
    if ours:
        edge_incidents.close_on_return(
            inc.edgeId,
            actor="edge_silenced",
            execution=inc.executionId,
            resolved_by="back during the silence",
            incident_id=inc.incidentId,
        )
    run.record(
        edges.AUTOMATION,
        why=f"{inc.edgeId} came back while silenced",
        result="closed without action: not fixed by automation (silenced)",
        outcome=Outcome.SKIPPED_BY_GUARD,
    )
    return _out("back", outcome=Outcome.SKIPPED_BY_GUARD)


def _out(state: State, *, wait: int = 0, outcome: str = "") -> dict[str, Any]:
    return {"state": state, "waitSeconds": wait, "outcome": outcome}
