"""Verify the equalization (runbook 000 §5b): the edge acknowledged the command and a cell
reading taken after it shows the delta fell to within 200 mV. FIXED only then."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field
from selfheal_shared.battery import battery
from selfheal_shared.battery.cell_imbalance import AUTOMATION
from selfheal_shared.battery.incident import Incident
from selfheal_shared.core import clock
from selfheal_shared.core.outcomes import Outcome
from selfheal_shared.core.protocol import Run, remediator
from selfheal_shared.edge import edge_registry


class VerifyRequest(BaseModel):
    incident: Incident
    beforeMv: int = Field(ge=0)
    commandId: str = Field(min_length=1, max_length=128)
    issuedAt: str = Field(min_length=1)


@remediator(
    VerifyRequest, actor="cell_imbalance_verify", automation=AUTOMATION, what="verify request"
)
def handler(run: Run[VerifyRequest]) -> dict[str, Any]:
    req = run.request
    ack = edge_registry.get(f"ack#{req.commandId}")
    edge = edge_registry.get(f"edge#{req.incident.edgeId}") or {}
    read = battery.reading(edge, "cellsMv", "cellsAt", clock.now())
    after = read.at is not None and read.at > datetime.fromisoformat(req.issuedAt)
    delta = battery.delta_mv(battery.cells(edge))
    limit = battery.IMBALANCE_LIMIT_MV
    if ack is None or ack.get("result") != "ok":
        problem = f"equalize {req.commandId} not acknowledged ok ({(ack or {}).get('result')})"
    elif not after:
        problem = "no cell reading since the command"
    elif not read.fresh:
        problem = f"cannot confirm: the last cell reading is stale ({read.describe()})"
    elif delta > limit:
        problem = f"delta still {delta} mV > {limit} mV (was {req.beforeMv} mV)"
    else:
        problem = None
    outcome = Outcome.FIXED if problem is None else Outcome.NOT_FIXED
    summary = (
        f"{req.incident.edgeId}: delta {req.beforeMv} -> {delta} mV after equalization"
        if problem is None
        else f"{req.incident.edgeId}: equalization not verified: {problem}"
    )
    run.record(
        "equalize_verified" if problem is None else "equalize_not_verified",
        why=f"cells {read.describe()}, after equalize {req.commandId}",
        result=summary,
        outcome=outcome,
        details={"beforeMv": req.beforeMv, "afterMv": delta},
    )
    if problem is None:
        battery.resolve(run, req.incident, why=summary)
    return {"outcome": outcome.value, "deltaMv": delta, "summary": summary}
