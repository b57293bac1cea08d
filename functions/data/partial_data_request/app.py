"""Turn a coverage or good-quality alarm (runbook 004 "dados parciais") into an incident."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field
from selfheal_shared.core import clock
from selfheal_shared.core.alarm_event import AlarmStateChangeEvent
from selfheal_shared.core.handler import remediator
from selfheal_shared.core.models import parse
from selfheal_shared.core.observability import logger
from selfheal_shared.data import ingestion


class PartialDataStart(BaseModel):
    input: dict[str, Any]
    executionId: str = Field(min_length=1)


@remediator
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    start = parse(PartialDataStart, event, "partial-data start")
    alarm = parse(AlarmStateChangeEvent, start.input, "data-quality alarm event")
    incident = parse(
        ingestion.PartialDataIncident,
        {
            **ingestion.incident_from_alarm(
                alarm, start.executionId, ingestion.PARTIAL_DATA
            ).model_dump(),
            # The incident began when the alarm changed state (runbook 004 "Escalação" counts
            # its levels from there), not when this workflow got to run.
            "startedAt": clock.parse_aws_time(alarm.detail.state.timestamp).isoformat(),
        },
        f"alarm (dimension {ingestion.SCOPE_DIMENSION} names the scope)",
    )
    logger.set_correlation_id(incident.incidentId)
    logger.info("partial data reported", extra=incident.model_dump())
    return incident.model_dump()
