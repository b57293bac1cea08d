"""Check the answer at the E-Stop gate: only `{"confirmedSafe": true, "operator": "<name>",
"cause": "<the cause shown at the gate>"}` (and an optional `reason`) lets the reset go.
Anything else is refused naming the field and kept in the record (an excerpt) for
inspection, and the gate opens again. The approved cause and reason go into the record."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field
from selfheal_shared.battery import estop
from selfheal_shared.battery.estop import AUTOMATION, Approval
from selfheal_shared.battery.incident import Incident
from selfheal_shared.core.errors import InputInvalid, excerpt
from selfheal_shared.core.models import parse
from selfheal_shared.core.outcomes import Outcome
from selfheal_shared.core.protocol import Run, remediator

#: How much of a refused answer the record keeps.
KEPT_CHARS = 500


class AnswerRequest(BaseModel):
    incident: Incident
    #: The cause the gate showed (read from the E-Stop's event).
    cause: str = Field(max_length=500)
    answer: Any = None


@remediator(AnswerRequest, actor="emergency_stop_answer", automation=AUTOMATION, what="gate answer")
def handler(run: Run[AnswerRequest]) -> dict[str, Any]:
    req = run.request
    try:
        approval = parse(Approval, req.answer, "E-Stop reset approval")
        if problem := estop.refused_cause(approval, req.cause):
            raise InputInvalid(f"E-Stop reset approval: {problem}")
    except InputInvalid as exc:
        run.record(
            "reset_approval_refused",
            why=str(exc),
            result="refused: the E-Stop stays active and the gate is open again",
            outcome=Outcome.SKIPPED_BY_GUARD,
            details={"answer": excerpt(req.answer, KEPT_CHARS)},
        )
        return {"valid": False, "problem": str(exc), "operator": "", "cause": "", "reason": ""}
    resolved = f"; resolved: {approval.reason}" if approval.reason else ""
    run.record(
        "reset_approved",
        why="runbook 000 §5c: reset after the cause was identified and resolved",
        result=f"{approval.operator} confirmed the system is safe and the cause "
        f"({approval.cause}){resolved}",
        details={
            "operator": approval.operator,
            "confirmedSafe": True,
            "cause": approval.cause,
            "reason": approval.reason,
        },
    )
    return {
        "valid": True,
        "problem": "",
        "operator": approval.operator,
        "cause": approval.cause,
        "reason": approval.reason,
    }
