"""Park the workflow at the human gate and ask L1/L2 to decide: resume or keep frozen."""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, Field
from selfheal_shared.core import approvals, notify
from selfheal_shared.core.protocol import Run, remediator
from selfheal_shared.data import ingestion, records


class GateRequest(BaseModel):
    taskToken: str = Field(min_length=1)
    incident: ingestion.FreezeIncident
    manifest: dict[str, Any]


@remediator(GateRequest, actor="freeze_gate", automation=ingestion.AUTOMATION, what="gate request")
def handler(run: Run[GateRequest]) -> dict[str, Any]:
    req = run.request
    inc = req.incident
    integrity = req.manifest.get("integrity", {})
    flagged = list(integrity.get("suspicious", []))
    verified = integrity.get("verified") is not False
    # What a resume must name: the flagged sources, or that nothing was counted at all.
    must_name = flagged if verified else [*flagged, records.UNVERIFIED]
    acknowledge = "".join(f" --acknowledge {s}" for s in must_name)
    message = {
        "incidentId": inc.incidentId,
        "scope": inc.scope,
        "reason": inc.reason,
        "manifest": req.manifest,
        "integrity": ingestion.integrity_lines(integrity),
        "integrityFlagged": flagged,
        "integrityVerified": verified,
        "decide": {
            "resume": f"selfheal approve {inc.incidentId} --operator <you> --reason <why>"
            + acknowledge,
            "keep frozen": f"selfheal reject {inc.incidentId} --operator <you> --reason <why>",
            "aws cli": "aws stepfunctions send-task-success --task-token <token from the "
            "guard-state table, gate#<incident>> --task-output "
            '\'{"decision":"resume","operator":"<you>","reason":"<why>","acknowledge":'
            + json.dumps(must_name)
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
