"""Runbook 001 "Falhas de Escrita no InfluxDB", investigation steps, read only: (1) the
write latency of the last hour (GetMetricStatistics, 5-minute periods, Average and
Maximum), (2) the instance's status and class (`describe-db-instance` is GetDbInstance),
(3) connectivity (the store's `/ping` and a read with the scope's credentials). Then the
finding the workflow routes on:

- `recovered`: the alarm is OK again; nothing to do (NO_ACTION_NEEDED);
- `unreachable`: the store does not answer: a bigger class would not help, people are
  paged with the finding and no gate opens;
- `busy`: the instance is not AVAILABLE (already updating, maintenance): no gate;
- `top`: no larger class on the ladder (or a class not on it): people decide;
- `scale`: reachable, AVAILABLE, still alarming: propose the next class at the gate."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from botocore.exceptions import ClientError
from pydantic import BaseModel
from selfheal_shared.core import clock
from selfheal_shared.core.clients import client
from selfheal_shared.core.errors import InputInvalid
from selfheal_shared.core.protocol import Run, remediator
from selfheal_shared.data import influx_scaling as scaling
from selfheal_shared.data.records_store import StoreUnavailable, health

METRIC = {"namespace": "AWS/Timestream", "name": "InfluxDB_WriteLatency"}


class DiagnoseRequest(BaseModel):
    incident: scaling.InfluxIncident


def latency(database: str) -> dict[str, Any]:
    now = clock.now()
    points = client("cloudwatch").get_metric_statistics(
        Namespace=METRIC["namespace"],
        MetricName=METRIC["name"],
        Dimensions=[{"Name": scaling.DIMENSION, "Value": database}],
        StartTime=now - timedelta(minutes=scaling.LOOKBACK_MINUTES),
        EndTime=now,
        Period=scaling.PERIOD_SECONDS,
        Statistics=["Average", "Maximum"],
    )["Datapoints"]
    return scaling.latency_summary(points)


def instance(instance_id: str) -> dict[str, Any]:
    try:
        got = client("timestream-influxdb").get_db_instance(identifier=instance_id)
    except ClientError as exc:
        if exc.response["Error"]["Code"] == "ResourceNotFoundException":
            raise InputInvalid(
                f"instanceId: Timestream for InfluxDB instance {instance_id!r} does not exist"
            ) from None
        raise
    return {
        "id": got["id"],
        "name": got["name"],
        "status": got["status"],
        "dbInstanceType": got["dbInstanceType"],
        "allocatedStorage": got.get("allocatedStorage"),
    }


def alarm_state(name: str) -> str:
    found = client("cloudwatch").describe_alarms(AlarmNames=[name])["MetricAlarms"]
    if not found:
        raise InputInvalid(f"alarmName: alarm {name!r} does not exist")
    return str(found[0]["StateValue"])


def _finding(
    inc: scaling.InfluxIncident, state: str, reach: str | None, db: dict[str, Any]
) -> tuple[str, str | None, str]:
    proposed = scaling.next_class(db["dbInstanceType"])
    if state == "OK":
        return "recovered", None, f"alarm {inc.alarmName} is OK again: nothing to scale"
    if reach is not None:
        return (
            "unreachable",
            None,
            (
                f"the store does not answer ({reach}): a larger class would not bring it back; "
                "nothing was changed"
            ),
        )
    if db["status"] != "AVAILABLE":
        return (
            "busy",
            None,
            (f"instance {inc.instanceId} is {db['status']}, not AVAILABLE: nothing was changed"),
        )
    if proposed is None:
        return (
            "top",
            None,
            (
                f"instance {inc.instanceId} is {db['dbInstanceType']}: no larger class on the "
                "ladder; nothing was changed"
            ),
        )
    return (
        "scale",
        proposed,
        (
            f"instance {inc.instanceId} AVAILABLE, reachable, still in ALARM: propose "
            f"{db['dbInstanceType']} -> {proposed} (human gate)"
        ),
    )


@remediator(
    DiagnoseRequest, actor="influx_diagnose", automation=scaling.AUTOMATION, what="diagnosis"
)
def handler(run: Run[DiagnoseRequest]) -> dict[str, Any]:
    inc = run.request.incident
    lat = latency(inc.database)
    db = instance(inc.instanceId)
    try:
        reached, problem = health(inc.scope), None
    except StoreUnavailable as exc:
        reached, problem = "", str(exc)
    state = alarm_state(inc.alarmName)
    finding, proposed, text = _finding(inc, state, problem, db)
    facts = (
        f"{scaling.latency_text(lat)}; instance {db['name']} ({db['id']}) {db['status']}, "
        f"{db['dbInstanceType']}, {db['allocatedStorage']} GB; connectivity: "
        f"{reached or 'FAILED: ' + str(problem)}; alarm {inc.alarmName} {state}"
    )
    run.record(
        "diagnose",
        why=facts,
        result=text,
        details={
            "latency": lat,
            "instance": db,
            "reachable": problem is None,
            "finding": finding,
            "proposedClass": proposed,
        },
    )
    return {
        "finding": finding,
        "summary": text,
        "facts": facts,
        "latency": lat,
        "instance": db,
        "reachable": problem is None,
        "connectivity": reached or problem,
        "alarmState": state,
        "currentClass": db["dbInstanceType"],
        "proposedClass": proposed,
    }
