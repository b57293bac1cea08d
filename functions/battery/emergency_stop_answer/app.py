"""Check the answer at the E-Stop gate: only `{"confirmedSafe": true, "operator": "<name>"}`
lets the reset go; anything else is refused naming the field, and the gate opens again."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel
from selfheal_shared.battery.estop import AUTOMATION, Approval
from selfheal_shared.battery.incident import Incident
from selfheal_shared.core.errors import InputInvalid
from selfheal_shared.core.models import parse
from selfheal_shared.core.outcomes import Outcome
from selfheal_shared.core.protocol import Run, remediator


class AnswerRequest(BaseModel):
    incident: Incident
    answer: Any = None


@remediator(AnswerRequest, actor="emergency_stop_answer", automation=AUTOMATION, what="gate answer")
def handler(run: Run[AnswerRequest]) -> dict[str, Any]:
    try:
        approval = parse(Approval, run.request.answer, "E-Stop reset approval")
    except InputInvalid as exc:
        run.record(
            "reset_approval_refused",
            why=str(exc),
            result="refused: the E-Stop stays active and the gate is open again",
            outcome=Outcome.SKIPPED_BY_GUARD,
        )
        return {"valid": False, "problem": str(exc), "operator": ""}
    run.record(
        "reset_approved",
        why="runbook 000 §5c: reset after the cause was identified and resolved",
        result=f"{approval.operator} confirmed the system is safe",
        details={"operator": approval.operator, "confirmedSafe": True},
    )
    return {"valid": True, "problem": "", "operator": approval.operator}
