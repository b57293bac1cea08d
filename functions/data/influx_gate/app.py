"""Park the workflow at the scaling gate and show L1/L2 the figures the runbook reads
before "Escalar instância do InfluxDB": the hour's write latency, the instance's status and
class, connectivity, and the one step proposed (current class -> next on the ladder)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field
from selfheal_shared.core import approvals, audit, effects, notify
from selfheal_shared.core.protocol import Run, remediator
from selfheal_shared.data import influx_scaling as scaling


class GateRequest(BaseModel):
    taskToken: str = Field(min_length=1)
    incident: scaling.InfluxIncident
    diagnosis: dict[str, Any]


@remediator(GateRequest, actor="influx_gate", automation=scaling.AUTOMATION, what="gate request")
def handler(run: Run[GateRequest]) -> dict[str, Any]:
    req = run.request
    inc, dx = req.incident, req.diagnosis
    proposal = f"{dx['currentClass']} -> {dx['proposedClass']}"
    message = {
        "incidentId": inc.incidentId,
        "database": inc.database,
        "instanceId": inc.instanceId,
        "reason": inc.reason,
        "latency": dx["latency"],
        "instance": dx["instance"],
        "connectivity": dx["connectivity"],
        #: A WriteErrors alarm's sums per 5 minutes (empty for the latency alarm).
        "writeErrors": dx.get("writeErrors", []),
        "proposal": f"UpdateDbInstance {inc.instanceId} dbInstanceType {proposal}",
        "decide": {
            "scale": f"selfheal approve {inc.incidentId} --operator <you> --reason <why>",
            "do not scale": f"selfheal reject {inc.incidentId} --operator <you> --reason <why>",
        },
    }
    # Asked once per execution: a retried step (its answer lost after the pages went out)
    # parks its new token without paging L1/L2 again.
    asked = effects.key(inc.incidentId, "scale_gate", inc.executionId, proposal)
    before = audit.history(inc.incidentId)
    if not any(r["action"] == "scale_gate" and r["details"].get("asked") == asked for r in before):
        for level in ("l1", "l2"):
            notify.publish(
                level,
                subject=f"[selfheal] InfluxDB write latency ({inc.database}): scale {proposal}?",
                message=message,
            )
        run.record(
            "scale_gate",
            why=dx["facts"],
            result=f"asked L1/L2 to approve {proposal} for instance {inc.instanceId}",
            # Not an effect's key: pages are not an AWS change to reconcile.
            details={"asked": asked},
        )
    # Park last: once the token is visible, the request for a decision has gone out.
    approvals.park(
        inc.incidentId,
        req.taskToken,
        {
            "database": inc.database,
            "instanceId": inc.instanceId,
            "proposal": proposal,
            "latency": scaling.latency_text(dx["latency"]),
            "executionId": inc.executionId,
        },
    )
    return {"parked": True}
