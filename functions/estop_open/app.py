"""Open an E-Stop incident (runbook 000 §5c): gather the cause ("Ver motivo do E-Stop": the
last emergency-stop event) and page L1 with it. Nothing is reset here."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field
from selfheal_shared import battery, edge_registry, edges, notify
from selfheal_shared.cell_imbalance import Incident
from selfheal_shared.estop import AUTOMATION, AlarmDetail
from selfheal_shared.handler import remediator
from selfheal_shared.models import parse
from selfheal_shared.outcomes import Outcome
from selfheal_shared.protocol import begin


class OpenRequest(BaseModel):
    executionId: str = Field(min_length=1)
    event: dict[str, Any]


@remediator
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    req = parse(OpenRequest, event, "emergency-stop request")
    alarm = parse(AlarmDetail, req.event.get("detail"), "detail")
    inc = Incident(
        incidentId=battery.incident_id(AUTOMATION, alarm.edgeId, alarm.raisedAt),
        executionId=req.executionId,
        edgeId=alarm.edgeId,
        siteId=alarm.siteId,
        severity=alarm.severity,
        raisedAt=alarm.raisedAt,
    )
    run = begin(
        inc,
        actor="estop_open",
        automation=AUTOMATION,
        incident_id=inc.incidentId,
        execution_id=req.executionId,
        context=context,
    )
    last = edge_registry.get(f"alarm#{alarm.edgeId}#EMERGENCY_STOP") or {}
    cause = str(last.get("reason") or "") or "no cause reported by the edge"
    run.record(
        "cause_gathered",
        why="runbook 000 §5c: NUNCA fazer reset sem identificar causa",
        result=f"last EMERGENCY_STOP on {alarm.edgeId} at {alarm.raisedAt}: {cause}",
    )
    level, _ = edges.page_due(inc.severity, 0, [])
    level = level or "ops"
    notify.publish(
        level,
        subject=f"[selfheal] {inc.severity} {inc.edgeId} EMERGENCY_STOP",
        message={
            "incidentId": inc.incidentId,
            "automation": AUTOMATION,
            "severity": inc.severity,
            "cause": cause,
            "summary": f"EMERGENCY_STOP on {inc.edgeId}: {cause}; not reset (a human must "
            "confirm it is safe)",
        },
    )
    run.record(
        f"page_{level}",
        why=f"{inc.severity} E-Stop",
        result=f"paged {level}",
        outcome=Outcome.ESCALATED,
    )
    return {"incident": inc.model_dump(), "cause": cause}
