"""Verify the reset: acknowledged ok and the edge cleared its EMERGENCY_STOP alarm."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field
from selfheal_shared.battery import battery
from selfheal_shared.battery.estop import AUTOMATION
from selfheal_shared.battery.incident import Incident
from selfheal_shared.core import audit
from selfheal_shared.core.outcomes import Outcome
from selfheal_shared.core.protocol import Run, remediator
from selfheal_shared.edge import edge_registry, edges


class CheckRequest(BaseModel):
    incident: Incident
    commandId: str = Field(min_length=1, max_length=128)


@remediator(CheckRequest, actor="emergency_stop_check", automation=AUTOMATION, what="reset check")
def handler(run: Run[CheckRequest]) -> dict[str, Any]:
    req = run.request
    ack = edge_registry.get(f"ack#{req.commandId}")
    edge = edge_registry.get(f"edge#{req.incident.edgeId}") or {}
    active = "EMERGENCY_STOP" in edges.active_alarms(edge)
    if ack is None or ack.get("result") != "ok":
        problem = f"reset {req.commandId} not acknowledged ok"
    elif active:
        problem = "EMERGENCY_STOP still active"
    else:
        problem = None
    summary = (
        f"{req.incident.edgeId}: E-Stop reset verified (alarm cleared)"
        if problem is None
        else f"{req.incident.edgeId}: reset not verified: {problem}"
    )
    run.record(
        "reset_verified" if problem is None else "reset_not_verified",
        why=f"after {req.commandId}",
        result=summary,
        outcome=Outcome.FIXED if problem is None else Outcome.NOT_FIXED,
    )
    if problem is None:
        battery.resolve(run, req.incident, why=summary, cause=_cause(req.incident.incidentId))
    return {"cleared": problem is None, "summary": summary}


def _cause(incident_id: str) -> str:
    """The cause gathered and confirmed for this E-Stop (its `cause_gathered` record)."""
    for r in audit.history(incident_id):
        details = r.get("details")
        if r["action"] == "cause_gathered" and isinstance(details, dict):
            return str(details.get("cause") or "")
    return ""
