"""Turn a data-quality alarm or an operator's request into a freeze incident."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field
from selfheal_shared.core.alarm_event import AlarmStateChangeEvent
from selfheal_shared.core.handler import remediator
from selfheal_shared.core.models import parse
from selfheal_shared.core.observability import logger
from selfheal_shared.data import ingestion


class FreezeStart(BaseModel):
    input: dict[str, Any]
    executionId: str = Field(min_length=1)


@remediator
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    start = parse(FreezeStart, event, "freeze start")
    raw = start.input
    if "detail-type" in raw or "detail" in raw:
        alarm = parse(AlarmStateChangeEvent, raw, "data-quality alarm event")
        incident = parse(
            ingestion.FreezeIncident,
            ingestion.incident_from_alarm(alarm, start.executionId).model_dump(),
            f"alarm (dimension {ingestion.SCOPE_DIMENSION} names the scope)",
        )
    else:
        request = parse(ingestion.ManualFreeze, raw, "manual freeze input")
        incident = ingestion.incident_from_manual(request, start.executionId)
    logger.set_correlation_id(incident.incidentId)
    logger.info("freeze requested", extra=incident.model_dump())
    return incident.model_dump()
