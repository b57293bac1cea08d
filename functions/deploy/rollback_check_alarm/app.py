"""Read an alarm's state (metric or composite) for the bounded verification loop in the
workflow."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field
from selfheal_shared.core.clients import client
from selfheal_shared.core.errors import InputInvalid
from selfheal_shared.core.handler import remediator
from selfheal_shared.core.models import parse


class CheckRequest(BaseModel):
    alarmName: str = Field(min_length=1)
    attempt: int = Field(default=0, ge=0)
    maxAttempts: int = Field(ge=1, le=60)


@remediator
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    req = parse(CheckRequest, event, "alarm check")
    resp = client("cloudwatch").describe_alarms(
        AlarmNames=[req.alarmName], AlarmTypes=["MetricAlarm", "CompositeAlarm"]
    )
    alarms = resp.get("MetricAlarms", []) + resp.get("CompositeAlarms", [])
    if not alarms:
        raise InputInvalid(f"alarmName: alarm {req.alarmName!r} does not exist")
    state = alarms[0]["StateValue"]
    attempt = req.attempt + 1
    return {
        "alarmName": req.alarmName,
        "state": state,
        "recovered": state == "OK",
        "attempt": attempt,
        "maxAttempts": req.maxAttempts,
        "exhausted": state != "OK" and attempt >= req.maxAttempts,
    }
