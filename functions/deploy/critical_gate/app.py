"""Write the undo manifest (what was stopped and turned off: an append-only audit record)
and park the workflow at the human gate: only an operator restores it."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field
from selfheal_shared.core import approvals, audit, notify
from selfheal_shared.core.protocol import Run, remediator
from selfheal_shared.deploy import critical
from selfheal_shared.deploy.critical import CriticalIncident
from selfheal_shared.platform import maintenance_window as mw

MANIFEST = "critical_manifest"


class GateRequest(BaseModel):
    taskToken: str = Field(min_length=1)
    incident: CriticalIncident
    stopped: list[str]
    flagsOff: list[str]
    health: dict[str, Any]


def manifest(incident_id: str) -> dict[str, Any] | None:
    found = [r for r in audit.history(incident_id) if r["action"] == MANIFEST]
    return dict(found[-1]["details"]) if found else None


@remediator(
    GateRequest,
    actor="critical_gate",
    automation=critical.AUTOMATION,
    what="gate",
    scopes=mw.calendar_scopes,
)
def handler(run: Run[GateRequest]) -> dict[str, Any]:
    req = run.request
    inc = req.incident
    kept = manifest(inc.incidentId)  # a retried gate keeps the first manifest
    if kept is None:
        kept = {
            "deploymentsStopped": req.stopped,
            "flagsTurnedOff": req.flagsOff,
            "flags": inc.flags.model_dump(),
            "health": req.health,
        }
        run.record(
            MANIFEST,
            why=inc.reason,
            result=(
                f"undo manifest: {len(req.stopped)} deployment(s) stopped "
                f"({', '.join(req.stopped) or 'none'}); flags turned off: "
                f"{', '.join(req.flagsOff) or 'none'}"
            ),
            details=kept,
        )
    notify.publish(
        "l1",
        # What the manifest holds (SNS keeps 100 characters of a subject).
        subject=(
            f"[selfheal] restore decision {inc.incidentId}: "
            f"{len(kept['deploymentsStopped'])} stopped, {len(kept['flagsTurnedOff'])} flags off"
        ),
        message={
            "incidentId": inc.incidentId,
            "reason": inc.reason,
            "manifest": kept,
            "decide": {
                "restore": f"selfheal approve {inc.incidentId} --operator <you> --reason <why>",
                "keep off": f"selfheal reject {inc.incidentId} --operator <you> --reason <why>",
            },
        },
    )
    approvals.park(
        inc.incidentId,
        req.taskToken,
        {"automation": critical.AUTOMATION, "reason": inc.reason, "executionId": inc.executionId},
    )
    return {"parked": True}
