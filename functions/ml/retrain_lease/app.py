"""Take or release a system's training lease: never two trainings of the same system at
once. A refused run is recorded, not an error."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field
from selfheal_shared.core import fanout, leases
from selfheal_shared.core.outcomes import Outcome
from selfheal_shared.core.protocol import Run, remediator
from selfheal_shared.ml import forecast

#: Longer than a bounded training (poll limit) plus evaluation; expires on its own after.
LEASE_MINUTES = 180


class LeaseRequest(BaseModel):
    op: Literal["acquire", "release"]
    systemId: str = Field(min_length=1)
    runId: str = Field(min_length=1)
    incidentId: str = Field(min_length=1)
    executionId: str = Field(min_length=1)


@remediator(
    LeaseRequest,
    actor="retrain_lease",
    automation=forecast.AUTOMATION,
    what="lease request",
)
def handler(run: Run[LeaseRequest]) -> dict[str, Any]:
    req = run.request
    name = f"{forecast.AUTOMATION}#{req.systemId}"
    if req.op == "release":
        released = leases.release(name, req.executionId)
        return {"released": released}
    proceed, why = fanout.may_proceed(req.runId)
    if not proceed:
        run.record(
            "retrain_lease",
            why=why,
            result=f"{req.systemId}: not attempted",
            outcome=Outcome.SKIPPED_BY_GUARD,
        )
        return {
            "acquired": False,
            "outcome": Outcome.SKIPPED_BY_GUARD,
            "item": req.systemId,
            "reason": why,
        }
    taken, holder = leases.acquire(name, req.executionId, minutes=LEASE_MINUTES)
    if taken:
        return {"acquired": True, "item": req.systemId, "reason": ""}
    reason = (
        f"refused: a training of {req.systemId} is already running "
        f"(execution {str(holder.get('holder', '?')).rsplit(':', 1)[-1]}, "
        f"since {holder.get('since', '?')})"
    )
    run.record(
        "retrain_model",
        why=reason,
        result="refused: lease held",
        outcome=Outcome.SKIPPED_BY_GUARD,
    )
    return {
        "acquired": False,
        "outcome": Outcome.SKIPPED_BY_GUARD,
        "item": req.systemId,
        "reason": reason,
    }
