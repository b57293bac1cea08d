"""Turn a write latency/errors alarm on a Timestream for InfluxDB database (runbook 001
"Falhas de Escrita no InfluxDB") into the incident: which database, which instance serves
it (registered), and the alarm that must return to OK."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from pydantic import BaseModel, Field
from selfheal_shared.core.alarm_event import AlarmStateChangeEvent
from selfheal_shared.core.clients import client
from selfheal_shared.core.errors import NothingFound
from selfheal_shared.core.handler import remediator
from selfheal_shared.core.models import parse
from selfheal_shared.core.observability import logger
from selfheal_shared.data import influx_scaling as scaling


class OpenRequest(BaseModel):
    input: dict[str, Any]
    executionId: str = Field(min_length=1)


def _registration(database: str) -> scaling.InstanceRegistration:
    ssm = client("ssm")
    name = scaling.parameter_name(database)
    try:
        text = ssm.get_parameter(Name=name)["Parameter"]["Value"]
    except ssm.exceptions.ParameterNotFound:
        raise NothingFound(f"database {database!r} has no instance registered ({name})") from None
    return parse(scaling.InstanceRegistration, json.loads(text), f"registration {name}")


@remediator
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    start = parse(OpenRequest, event, "influx write failures start")
    alarm = parse(AlarmStateChangeEvent, start.input, "write latency/errors alarm event")
    database = alarm.metric_dimensions().get(scaling.DIMENSION, "")
    basis = f"{alarm.account}|{alarm.detail.alarmName}|{alarm.detail.state.timestamp}"
    reg = _registration(database) if database else None
    incident = parse(
        scaling.InfluxIncident,
        {
            "incidentId": f"{scaling.AUTOMATION}-{hashlib.sha256(basis.encode()).hexdigest()[:16]}",
            "executionId": start.executionId,
            "database": database,
            "instanceId": reg.instanceId if reg else "",
            "scope": reg.scope if reg else "",
            "alarmName": alarm.detail.alarmName,
            "reason": f"alarm {alarm.detail.alarmName}: {alarm.detail.state.reason}"[:500],
        },
        f"alarm (dimension {scaling.DIMENSION} names the database)",
    )
    logger.set_correlation_id(incident.incidentId)
    logger.info("time-series write failures", extra=incident.model_dump())
    return incident.model_dump()
