"""Turn an external-mapper timeout alarm (runbook 002 "INCIDENTE 3 — Mapper externo não
responde") into the degraded-mode incident: which mapper, and that it is registered."""

from __future__ import annotations

import hashlib
from typing import Any

from pydantic import BaseModel, Field
from selfheal_shared.api import mapper_mode
from selfheal_shared.api.mapper_mode import MapperIncident
from selfheal_shared.core.alarm_event import AlarmStateChangeEvent
from selfheal_shared.core.handler import remediator
from selfheal_shared.core.models import parse
from selfheal_shared.core.observability import logger


class OpenRequest(BaseModel):
    input: dict[str, Any]
    executionId: str = Field(min_length=1)


@remediator
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    start = parse(OpenRequest, event, "mapper degraded start")
    alarm = parse(AlarmStateChangeEvent, start.input, "mapper timeout alarm event")
    basis = f"{alarm.account}|{alarm.detail.alarmName}|{alarm.detail.state.timestamp}"
    incident = parse(
        MapperIncident,
        {
            "incidentId": f"{mapper_mode.AUTOMATION}-"
            f"{hashlib.sha256(basis.encode()).hexdigest()[:16]}",
            "executionId": start.executionId,
            "mapper": alarm.metric_dimensions().get(mapper_mode.DIMENSION, ""),
            "reason": f"alarm {alarm.detail.alarmName}: {alarm.detail.state.reason}"[:500],
        },
        f"alarm (dimension {mapper_mode.DIMENSION} names the mapper)",
    )
    mapper_mode.config(incident.mapper)  # registered, or NothingFound naming the parameter
    logger.set_correlation_id(incident.incidentId)
    logger.info("external mapper degraded", extra=incident.model_dump())
    return incident.model_dump()
