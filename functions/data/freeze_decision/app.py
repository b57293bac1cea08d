"""Check the answer given at the human gate before anything acts on it.

Whatever `send-task-success` carried (no `reason`, a number for a name, an unknown
decision, a resume over sources the integrity check flagged) is rejected here with the
field named, never left to crash a later state: the workflow pages and asks again."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel
from selfheal_shared.core import approvals
from selfheal_shared.core.errors import InputInvalid
from selfheal_shared.core.models import parse
from selfheal_shared.core.protocol import Run, remediator
from selfheal_shared.data import ingestion, records


class AnswerRequest(BaseModel):
    incident: ingestion.FreezeIncident
    #: The gate's output exactly as it came: anything at all.
    answer: Any = None
    integrity: dict[str, Any]


def _problem(req: AnswerRequest) -> tuple[approvals.Decision | None, str]:
    try:
        decision = parse(approvals.Decision, req.answer, "gate answer")
    except InputInvalid as exc:
        return None, str(exc)
    missing = ingestion.unacknowledged(decision, req.integrity)
    if not missing:
        return decision, ""
    ratios = {s["source"]: s.get("ratio") for s in req.integrity.get("sources", [])}
    sources = [f"{s} ({ratios.get(s)}x its usual 24 h)" for s in missing if s != records.UNVERIFIED]
    said = [f"flagged {', '.join(sources)}"] if sources else []
    if records.UNVERIFIED in missing:
        said.append(f"could not count the records ({req.integrity.get('problem')})")
    return decision, (
        f"invalid gate answer: acknowledge: the integrity check {' and '.join(said)}; "
        f"a resume over it must name them (selfheal approve ... --acknowledge "
        f"{' --acknowledge '.join(missing)})"
    )


@remediator(
    AnswerRequest, actor="freeze_decision", automation=ingestion.AUTOMATION, what="gate answer"
)
def handler(run: Run[AnswerRequest]) -> dict[str, Any]:
    # Whatever the answer and however it came (`selfheal approve`, the AWS CLI's
    # send-task-success), this parking of the gate is answered: `selfheal gates` drops it.
    # A refused answer parks the gate again at once, and it is listed again.
    approvals.close(run.request.incident.incidentId)
    decision, problem = _problem(run.request)
    if problem:
        run.record(
            "gate_answer_rejected",
            why=problem,
            result="rejected; ingestion stays frozen and the gate is asked again",
        )
        return {"valid": False, "problem": problem, "decision": None}
    assert decision is not None
    run.record(
        "gate_answer",
        why=decision.reason,
        result=f"{decision.decision} by {decision.operator}",
        details=decision.model_dump(),
    )
    return {"valid": True, "problem": "", "decision": decision.model_dump()}
