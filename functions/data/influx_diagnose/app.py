"""Runbook 001 "Falhas de Escrita no InfluxDB", investigation steps, read only: (1) the
write latency of the last hour (GetMetricStatistics, 5-minute periods, Average and
Maximum), (2) the instance's status and class (`describe-db-instance` is GetDbInstance),
(3) connectivity (the store's `/ping` and a read with the scope's credentials). Then the
finding the workflow routes on:

- `recovered`: the alarm is OK again; nothing to do (NO_ACTION_NEEDED);
- `unreachable`: selfheal could not reach the store from the function's network (a VPC
  endpoint the function has no route to looks the same as a store that is down): people
  are paged with exactly that and no gate opens;
- `busy`: the instance is not AVAILABLE (already updating, maintenance): no gate;
- `top`: no larger class on the ladder (or a class not on it): people decide;
- `errors`: the WriteErrors alarm fired while the latency is under its alarm's threshold:
  the writes fail for another reason than load, people are paged, no scaling proposed;
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

METRIC = {"namespace": "AWS/Timestream", "name": scaling.LATENCY_METRIC}


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


def alarm(name: str) -> dict[str, Any]:
    found = client("cloudwatch").describe_alarms(AlarmNames=[name])["MetricAlarms"]
    if not found:
        raise InputInvalid(f"alarmName: alarm {name!r} does not exist")
    got: dict[str, Any] = found[0]
    return got


def errors(alarm: dict[str, Any]) -> list[dict[str, Any]]:
    """The fired alarm's own metric over the last hour (the WriteErrors sums shown at the
    gate and in the page)."""
    now = clock.now()
    points = client("cloudwatch").get_metric_statistics(
        Namespace=alarm["Namespace"],
        MetricName=alarm["MetricName"],
        Dimensions=alarm.get("Dimensions", []),
        StartTime=now - timedelta(minutes=scaling.LOOKBACK_MINUTES),
        EndTime=now,
        Period=scaling.PERIOD_SECONDS,
        Statistics=["Sum"],
    )["Datapoints"]
    return sorted(
        ({"at": p["Timestamp"].isoformat(), "sum": float(p["Sum"])} for p in points),
        key=lambda r: str(r["at"]),
    )


def _latency_high(lat: dict[str, Any]) -> bool:
    periods = lat["periods"]
    return bool(periods) and periods[-1]["average"] > scaling.LATENCY_THRESHOLD_MS


def _finding(
    inc: scaling.InfluxIncident,
    state: str,
    reach: str | None,
    db: dict[str, Any],
    latency_alarm: bool,
    lat: dict[str, Any],
) -> tuple[str, str | None, str]:
    proposed = scaling.next_class(db["dbInstanceType"])
    if state == "OK":
        return "recovered", None, f"alarm {inc.alarmName} is OK again: nothing to scale"
    if reach is not None:
        # The function may have no route to the instance (a VPC endpoint): that is not
        # evidence that the store is down, nor that a larger class would not help.
        return (
            "unreachable",
            None,
            (
                f"selfheal could not reach the store from the function's network ({reach}); "
                "whether it answers its writers is not known: check it from inside its VPC "
                "before scaling; nothing was changed"
            ),
        )
    if not latency_alarm and not _latency_high(lat):
        return (
            "errors",
            None,
            (
                f"alarm {inc.alarmName} (write errors) with the last write latency under "
                f"{scaling.LATENCY_THRESHOLD_MS:g} ms: not a load a larger class would take "
                "away; no scaling proposed, nothing was changed"
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
    fired = alarm(inc.alarmName)
    state = str(fired["StateValue"])
    latency_alarm = fired.get("MetricName") == scaling.LATENCY_METRIC
    sums = [] if latency_alarm else errors(fired)
    finding, proposed, text = _finding(inc, state, problem, db, latency_alarm, lat)
    shown = ", ".join(f"{r['sum']:g}" for r in sums) or "none"
    facts = (
        f"{scaling.latency_text(lat)}; instance {db['name']} ({db['id']}) {db['status']}, "
        f"{db['dbInstanceType']}, {db['allocatedStorage']} GB; connectivity: "
        f"{reached or 'FAILED: ' + str(problem)}; alarm {inc.alarmName} {state}"
        + ("" if latency_alarm else f"; {fired.get('MetricName')} per 5 min: {shown}")
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
            "writeErrors": sums,
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
        "writeErrors": sums,
        "currentClass": db["dbInstanceType"],
        "proposedClass": proposed,
    }
