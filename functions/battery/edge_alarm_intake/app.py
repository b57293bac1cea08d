"""CloudWatch battery alarms → the edge bus (runbook 000 §5/§6): the alarm's dimensions name
the edge and the runbook's alarm type (`edge_alarm_source`); it updates the edge's alarm
set like an MQTT alarm does and is handed on as the same `Edge Alarm Changed` event, so
one set of workflows serves both sources. Bad input is refused naming the field (the
failed execution keeps it, after an escalation); an unknown edge is refused too."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field
from selfheal_shared.battery import edge_alarm_source
from selfheal_shared.core import audit, clock
from selfheal_shared.core.errors import InputInvalid
from selfheal_shared.core.handler import remediator
from selfheal_shared.core.models import parse
from selfheal_shared.edge import edge_registry


class IntakeRequest(BaseModel):
    executionId: str = Field(min_length=1)
    event: dict[str, Any]


@remediator
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    req = parse(IntakeRequest, event, "alarm intake request")
    signal = edge_alarm_source.signal(req.event)
    if edge_registry.site_of(signal.edgeId) == "unknown":
        raise InputInvalid(
            f"{edge_alarm_source._DIMENSIONS}.{edge_alarm_source.EDGE_DIMENSION}: "
            f"{signal.edgeId!r} is not in the edge registry"
        )
    out = edge_registry.record_signal(signal)
    edge_registry.publish(out)
    handed = [f"{e['DetailType']} ({e['Detail'].get('state')})" for e in out]
    audit.record(
        incident_id=f"edge_alarm_intake-{signal.edgeId}-{clock.now().date().isoformat()}",
        execution=req.executionId,
        action="alarm_handed_on",
        actor="edge_alarm_intake",
        why=str(signal.payload["reason"]),
        result=f"{signal.payload['alarm']} {signal.payload['state']} on {signal.edgeId}: "
        + ", ".join(handed)
        + " put on the edge bus",
    )
    return {"edgeId": signal.edgeId, "alarm": signal.payload["alarm"], "events": handed}
