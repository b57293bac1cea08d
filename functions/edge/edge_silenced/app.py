"""An edge outage under an operator's silence (runbook 000 §6): the ladder waits it out
instead of ending. No action and no page while it lasts; if the edge comes back meanwhile
the incident closes as not handled (never FIXED, never "RESOLVED"); when it ends and the
edge is still offline, the ladder resumes. An action a guard refused while the ladder runs
(GuardRefused) lands here too, and the one rule (`refusals`) sorts it: a silence is waited
out; any other refusal (kill switch, dry-run, maintenance window, restart lock) is
`refused`: no action, and the ladder keeps the incident open and pages it on its clock."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel
from selfheal_shared.core import clock, guards, refusals
from selfheal_shared.core.outcomes import Outcome
from selfheal_shared.core.protocol import Run, remediator
from selfheal_shared.edge import edge_incidents, edge_registry, edges
from selfheal_shared.edge.edges import EdgeIncident as Incident

#: Look again at least this often: a longer silence is waited out in steps.
MAX_WAIT_SECONDS = 3600

State = Literal["silenced", "back", "over", "refused"]


class SilencedRequest(BaseModel):
    incident: Incident
    #: The Catch result of the action a guard refused (`{"Error": "GuardRefused", ...}`).
    refused: dict[str, Any] | None = None


@remediator(
    SilencedRequest, actor="edge_silenced", automation=edges.AUTOMATION, what="silenced outage"
)
def handler(run: Run[SilencedRequest]) -> dict[str, Any]:
    inc = run.request.incident
    refusal = refusals.from_error(run.request.refused)
    if refusal is not None and refusal.pages:
        return _refused(run, refusal)
    pk = f"edge-incident#{inc.edgeId}"
    record = edge_registry.get(pk) or {}
    ours = record.get("incidentId") == inc.incidentId
    edge = edge_registry.get(f"edge#{inc.edgeId}") or {}
    window = refusals.quiet([inc.edgeId, *edges.silence_scopes(inc)])
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
        # No silence now and none this incident waited out: the guards, read again, decide
        # (a refusal that pages is held here; none: the ladder goes on).
        again = guards.before_action(inc.edgeId, scopes=edges.silence_scopes(inc))
        if not again.proceed and (refusal := refusals.of(again.guard, again.reason)).pages:
            return _refused(run, refusal)
        run.record(
            "guards_recheck",
            why="an action was refused by a guard that no longer holds",
            result="guards read again: the ladder goes on",
        )
        return _out("over")
    edge_registry.update(pk, {"resumedAt": clock.now().isoformat()})
    run.record(
        "silence_ended",
        why=f"the silence ended and {inc.edgeId} is still offline",
        result="the ladder resumes",
    )
    return _out("over")


def _refused(run: Run[SilencedRequest], refusal: refusals.Refusal) -> dict[str, Any]:
    """Not a silence: no more actions for this outage, but the incident stays open and the
    ladder pages it on its severity's clock until the edge is back or a person closes it."""
    inc = run.request.incident
    run.record(
        "refused",
        why=f"{refusal.guard}: {refusal.reason}",
        result=f"{inc.edgeId} offline, no action; the incident stays open and is paged on "
        "its clock until the edge is back",
        outcome=Outcome.SKIPPED_BY_GUARD,
        details=refusal.to_dict(),
    )
    return _out("refused", refusal=refusal)


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


def _out(
    state: State, *, wait: int = 0, outcome: str = "", refusal: refusals.Refusal | None = None
) -> dict[str, Any]:
    """`pages`: the ladder pages on (a refusal that is not a silence); `guard` and `reason`
    name it, for the ladder's own guard decision."""
    return {
        "state": state,
        "waitSeconds": wait,
        "outcome": outcome,
        "pages": refusal is not None and refusal.pages,
        "guard": refusal.guard if refusal else "",
        "reason": refusal.reason if refusal else "",
    }
