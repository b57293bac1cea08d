"""After the update: is the instance AVAILABLE again with the new class, and is the alarm
back to OK with a datapoint of its metric in its last period (an alarm that is OK because
no data arrived, `notBreaching`, proves nothing)? One look per call; the workflow's Wait
spaces them (never a sleep here)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from pydantic import BaseModel, Field
from selfheal_shared.core import clock
from selfheal_shared.core.clients import client
from selfheal_shared.core.protocol import Run, remediator
from selfheal_shared.data import influx_scaling as scaling


class WatchRequest(BaseModel):
    incident: scaling.InfluxIncident
    proposedClass: str = Field(min_length=1)
    checks: int = Field(default=0, ge=0)


def latest(alarm: dict[str, Any]) -> dict[str, Any] | None:
    """The alarm's metric in its last period, with its statistic: None when nothing was
    published in it."""
    now = clock.now()
    period = int(alarm["Period"])
    stat = str(alarm["Statistic"])
    points = client("cloudwatch").get_metric_statistics(
        Namespace=alarm["Namespace"],
        MetricName=alarm["MetricName"],
        Dimensions=alarm.get("Dimensions", []),
        StartTime=now - timedelta(seconds=period),
        EndTime=now,
        Period=period,
        Statistics=[stat],
    )["Datapoints"]
    if not points:
        return None
    last = max(points, key=lambda p: p["Timestamp"])
    return {"at": last["Timestamp"].isoformat(), "statistic": stat, "value": last[stat]}


@remediator(WatchRequest, actor="influx_watch", automation=scaling.AUTOMATION, what="watch")
def handler(run: Run[WatchRequest]) -> dict[str, Any]:
    req = run.request
    inc = req.incident
    db = client("timestream-influxdb").get_db_instance(identifier=inc.instanceId)
    alarms = client("cloudwatch").describe_alarms(AlarmNames=[inc.alarmName])["MetricAlarms"]
    state = alarms[0]["StateValue"] if alarms else "MISSING"
    available = db["status"] == "AVAILABLE" and db["dbInstanceType"] == req.proposedClass
    checks = req.checks + 1
    point = latest(alarms[0]) if alarms and state == "OK" else None
    recovered = available and state == "OK" and point is not None
    seen = (
        f" (latest {alarms[0]['MetricName']} {point['statistic']} {point['value']:g} at "
        f"{point['at']})"
        if point
        else (" with no datapoint in its last period" if state == "OK" else "")
    )
    last = (
        f"instance {inc.instanceId} {db['status']} as {db['dbInstanceType']}; alarm "
        f"{inc.alarmName} {state}{seen}"
    )
    if recovered:
        run.record(
            "verify_latency",
            why=f"after scaling to {req.proposedClass}, check {checks}",
            result=last,
        )
    return {
        "checks": checks,
        "available": available,
        "alarmState": state,
        "recovered": recovered,
        "exhausted": not recovered and checks >= scaling.WATCH_CHECKS,
        "last": last,
    }
