"""Check the answer given at the critical failure's gate before anything acts on it: a
missing reason, a wrong type or an unknown decision is refused naming the field, and the
workflow pages and asks again (nothing is restored)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel
from selfheal_shared.core import approvals
from selfheal_shared.core.errors import InputInvalid
from selfheal_shared.core.models import parse
from selfheal_shared.core.protocol import Run, remediator
from selfheal_shared.deploy import critical
from selfheal_shared.deploy.critical import CriticalIncident
from selfheal_shared.platform import maintenance_window as mw


class AnswerRequest(BaseModel):
    incident: CriticalIncident
    #: The gate's output exactly as it came: anything at all.
    answer: Any = None


@remediator(
    AnswerRequest,
    actor="critical_decision",
    automation=critical.AUTOMATION,
    what="gate answer",
    scopes=mw.calendar_scopes,
)
def handler(run: Run[AnswerRequest]) -> dict[str, Any]:
    approvals.close(run.request.incident.incidentId)
    try:
        decision = parse(approvals.Decision, run.request.answer, "gate answer")
    except InputInvalid as exc:
        run.record(
            "gate_answer_rejected",
            why=str(exc),
            result="rejected; nothing restored and the gate is asked again",
        )
        return {"valid": False, "problem": str(exc), "decision": None}
    run.record(
        "gate_answer",
        why=decision.reason,
        result=f"{decision.decision} by {decision.operator}",
        details=decision.model_dump(),
    )
    return {"valid": True, "problem": "", "decision": decision.model_dump()}
