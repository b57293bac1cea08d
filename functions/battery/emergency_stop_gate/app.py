"""Park the E-Stop workflow at the human gate (runbook 000 §5c: reset only after the cause
is found and resolved, with `{"confirmedSafe": true, "operator": ...}`). The page shows the
cause read from the E-Stop's event; the answer must confirm that cause (`cause`)."""

from __future__ import annotations

import json
import shlex
from typing import Any

from pydantic import BaseModel, Field
from selfheal_shared.battery.estop import AUTOMATION
from selfheal_shared.battery.incident import Incident
from selfheal_shared.core import approvals, notify
from selfheal_shared.core.protocol import Run, remediator


class GateRequest(BaseModel):
    taskToken: str = Field(min_length=1)
    incident: Incident
    #: Only an identified cause reaches the gate (none: the workflow escalates instead).
    cause: str = Field(min_length=1, max_length=500)


@remediator(GateRequest, actor="emergency_stop_gate", automation=AUTOMATION, what="gate request")
def handler(run: Run[GateRequest]) -> dict[str, Any]:
    req = run.request
    inc = req.incident
    notify.publish(
        "l1",
        subject=f"[selfheal] {inc.edgeId} E-Stop: confirm the cause and that it is safe",
        message={
            "incidentId": inc.incidentId,
            "automation": AUTOMATION,
            "cause": req.cause,
            "decide": "aws stepfunctions send-task-success --task-token <gate#<incident> in "
            "the guard-state table> --task-output "
            + shlex.quote(
                json.dumps(
                    {
                        "confirmedSafe": True,
                        "operator": "<you>",
                        "cause": req.cause,
                        "reason": "<what was resolved>",
                    },
                    ensure_ascii=False,
                )
            ),
        },
    )
    # The execution id lets `selfheal gates`, the demo and `serve` see who waits here.
    approvals.park(
        inc.incidentId,
        req.taskToken,
        {
            "edgeId": inc.edgeId,
            "cause": req.cause,
            "executionId": inc.executionId,
            "answer": approvals.CONFIRMED_SAFE,
        },
    )
    return {"parked": True}
