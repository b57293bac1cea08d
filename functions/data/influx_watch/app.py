"""After the update: is the instance AVAILABLE again with the new class, and is the alarm
back to OK (write latency under the threshold)? One look per call; the workflow's Wait
spaces them (never a sleep here)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field
from selfheal_shared.core.clients import client
from selfheal_shared.core.protocol import Run, remediator
from selfheal_shared.data import influx_scaling as scaling


class WatchRequest(BaseModel):
    incident: scaling.InfluxIncident
    proposedClass: str = Field(min_length=1)
    checks: int = Field(default=0, ge=0)


@remediator(WatchRequest, actor="influx_watch", automation=scaling.AUTOMATION, what="watch")
def handler(run: Run[WatchRequest]) -> dict[str, Any]:
    req = run.request
    inc = req.incident
    db = client("timestream-influxdb").get_db_instance(identifier=inc.instanceId)
    alarms = client("cloudwatch").describe_alarms(AlarmNames=[inc.alarmName])["MetricAlarms"]
    state = alarms[0]["StateValue"] if alarms else "MISSING"
    available = db["status"] == "AVAILABLE" and db["dbInstanceType"] == req.proposedClass
    checks = req.checks + 1
    recovered = available and state == "OK"
    last = (
        f"instance {inc.instanceId} {db['status']} as {db['dbInstanceType']}; alarm "
        f"{inc.alarmName} {state}"
    )
    if recovered:
        run.record(
            "verify_latency",
            why=f"after scaling to {req.proposedClass}, check {checks}",
            result=f"{last}: write latency back under the alarm's threshold",
        )
    return {
        "checks": checks,
        "available": available,
        "alarmState": state,
        "recovered": recovered,
        "exhausted": not recovered and checks >= scaling.WATCH_CHECKS,
        "last": last,
    }
