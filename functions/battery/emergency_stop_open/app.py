"""Open an E-Stop incident (runbook 000 §5c): read the cause from the E-Stop's own event
("Ver motivo do E-Stop": the edge's last emergency-stop event) and page L1 with it. Without
a cause no reset can be approved ("NUNCA fazer reset sem identificar causa"): the workflow
escalates saying so. Nothing is reset here."""

from __future__ import annotations

from typing import Any

from selfheal_shared.battery import battery, estop
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
    cause, said = estop.cause_of(edge_registry.get(estop.event_key(alarm.edgeId)), alarm.raisedAt)
    run.record(
        "cause_gathered" if cause else "cause_not_identified",
        why="runbook 000 §5c: NUNCA fazer reset sem identificar causa",
        result=f"EMERGENCY_STOP on {alarm.edgeId} raised at {alarm.raisedAt}: "
        + (cause if cause else f"no cause identified: {said}"),
        details={"cause": cause or ""},
    )
    if cause:  # without one, the escalation that follows is the page (it says why)
        battery.page(
            run,
            inc,
            subject="EMERGENCY_STOP",
            summary=f"EMERGENCY_STOP on {inc.edgeId}: {cause}; not reset (a human must "
            "confirm the cause and that it is safe)",
            why=f"{inc.severity} E-Stop",
            extra={"cause": cause},
        )
    return {
        "incident": inc.model_dump(),
        "cause": cause or "",
        "causeIdentified": cause is not None,
        "evidence": said,
    }
