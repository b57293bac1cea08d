"""Open an E-Stop incident (runbook 000 §5c): gather the cause ("Ver motivo do E-Stop": the
last emergency-stop event) and page L1 with it. Nothing is reset here."""

from __future__ import annotations

from typing import Any

from selfheal_shared.battery import battery
from selfheal_shared.battery.estop import AUTOMATION, AlarmDetail
from selfheal_shared.battery.incident import open_incident
from selfheal_shared.core.handler import remediator
from selfheal_shared.edge import edge_registry


@remediator
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    run, alarm = open_incident(
        event,
        context,
        AlarmDetail,
        automation=AUTOMATION,
        actor="emergency_stop_open",
        what="emergency-stop request",
    )
    inc = run.request
    last = edge_registry.get(f"alarm#{alarm.edgeId}#EMERGENCY_STOP") or {}
    cause = str(last.get("reason") or "") or "no cause reported by the edge"
    run.record(
        "cause_gathered",
        why="runbook 000 §5c: NUNCA fazer reset sem identificar causa",
        result=f"last EMERGENCY_STOP on {alarm.edgeId} at {alarm.raisedAt}: {cause}",
    )
    battery.page(
        run,
        inc,
        subject="EMERGENCY_STOP",
        summary=f"EMERGENCY_STOP on {inc.edgeId}: {cause}; not reset (a human must confirm "
        "it is safe)",
        why=f"{inc.severity} E-Stop",
        extra={"cause": cause},
    )
    return {"incident": inc.model_dump(), "cause": cause}
