"""Park the workflow at the human gate and ask L1/L2 to decide: resume or keep frozen."""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, Field
from selfheal_shared.core import approvals, notify
from selfheal_shared.core.protocol import Run, remediator
from selfheal_shared.data import ingestion


class GateRequest(BaseModel):
    taskToken: str = Field(min_length=1)
    incident: ingestion.FreezeIncident
    manifest: dict[str, Any]


@remediator(GateRequest, actor="freeze_gate", automation=ingestion.AUTOMATION, what="gate request")
def handler(run: Run[GateRequest]) -> dict[str, Any]:
    req = run.request
    inc = req.incident
    flagged = list(req.manifest.get("integrity", {}).get("suspicious", []))
    acknowledge = "".join(f" --acknowledge {s}" for s in flagged)
    message = {
        "incidentId": inc.incidentId,
        "scope": inc.scope,
        "reason": inc.reason,
        "manifest": req.manifest,
        "integrityFlagged": flagged,
        "decide": {
            "resume": f"selfheal approve {inc.incidentId} --operator <you> --reason <why>"
            + acknowledge,
            "keep frozen": f"selfheal reject {inc.incidentId} --operator <you> --reason <why>",
            "aws cli": "aws stepfunctions send-task-success --task-token <token from the "
            "guard-state table, gate#<incident>> --task-output "
            '\'{"decision":"resume","operator":"<you>","reason":"<why>","acknowledge":'
            + json.dumps(flagged)
            + "}'",
        },
    }
    for level in ("l1", "l2"):
        notify.publish(
            level,
            subject=f"[selfheal] ingestion FROZEN ({inc.scope}): decision needed",
            message=message,
        )
    # Park last: once the token is visible, the request for a decision has gone out.
    approvals.park(
        inc.incidentId,
        req.taskToken,
        {"scope": inc.scope, "reason": inc.reason, "executionId": inc.executionId},
    )
    return {"parked": True}
