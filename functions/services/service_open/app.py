"""Turn a service alarm (health check, queue depth, data staleness) or an operator's
`{"service": ...}` into a service-recovery incident. The alarm names the service through
the `alarms` of its description file (services/*.json)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field
from selfheal_shared.core import clock
from selfheal_shared.core.alarm_event import AlarmStateChangeEvent
from selfheal_shared.core.errors import InputInvalid
from selfheal_shared.core.handler import remediator
from selfheal_shared.core.models import parse
from selfheal_shared.core.observability import logger
from selfheal_shared.services import service_spec
from selfheal_shared.services.service_recovery import ServiceIncident


class OpenRequest(BaseModel):
    input: dict[str, Any]
    executionId: str = Field(min_length=1)


class ManualRequest(BaseModel):
    service: str = Field(min_length=1, max_length=64)
    reason: str = Field(default="requested by an operator", max_length=500)
    requestedBy: str = Field(default="operator", max_length=100)


@remediator
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    start = parse(OpenRequest, event, "service-recovery start")
    raw = start.input
    if "detail-type" in raw:
        alarm = parse(AlarmStateChangeEvent, raw, "service alarm event")
        if alarm.detail.state.value != "ALARM":
            raise InputInvalid(f"detail.state.value: {alarm.detail.state.value}, not ALARM")
        spec = service_spec.for_alarm(alarm.detail.alarmName)
        started = clock.parse_aws_time(alarm.detail.state.timestamp).isoformat()
        reason = f"alarm {alarm.detail.alarmName}: {alarm.detail.state.reason[:300]}"
        trigger = "alarm"
    else:
        manual = parse(ManualRequest, raw, "manual service-recovery request")
        spec = service_spec.get(manual.service)
        started = clock.now().isoformat()
        reason = f"{manual.requestedBy}: {manual.reason}"
        trigger = "manual"
    incident = ServiceIncident(
        incidentId=f"service-{spec.name}-{start.executionId.rsplit(':', 1)[-1]}"[:200],
        executionId=start.executionId,
        service=spec.name,
        severity=spec.severity,
        runbook=spec.runbook,
        startedAt=started,
        reason=reason,
        trigger=trigger,  # type: ignore[arg-type]
        escalation=spec.escalation,
    )
    logger.set_correlation_id(incident.incidentId)
    logger.info("service incident", extra=incident.model_dump())
    return incident.model_dump()
