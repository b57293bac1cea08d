"""Refuse a trigger whose target does not exist or is not in the state it claims, before
anything acts: an event naming `" "`, `*orders-api` or an alarm that is back to OK must
never roll back the function the event's other fields happen to name."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .clients import client
from .errors import InputInvalid, excerpt

if TYPE_CHECKING:
    from .alarm_event import AlarmStateChangeEvent

DIMENSIONS = "detail.configuration.metrics[].metricStat.metric.dimensions"
#: DescribeAlarms `AlarmNames` members: "Minimum length of 1. Maximum length of 255."
ALARM_NAME_MAX = 255


def alarm_named(name: Any) -> dict[str, Any]:
    """The alarm CloudWatch has by this name (a metric or a composite alarm), or
    `InputInvalid` naming `detail.alarmName`: an event about an alarm that does not exist
    (a hostile one, or an alarm deleted since) starts no remediation."""
    if not isinstance(name, str) or not 1 <= len(name) <= ALARM_NAME_MAX:
        raise InputInvalid(f"detail.alarmName: {excerpt(name)} is not an alarm name")
    resp = client("cloudwatch").describe_alarms(
        AlarmNames=[name], AlarmTypes=["MetricAlarm", "CompositeAlarm"]
    )
    found = resp.get("MetricAlarms", []) + resp.get("CompositeAlarms", [])
    if not found:
        raise InputInvalid(f"detail.alarmName: no alarm named {excerpt(name)}")
    alarm: dict[str, Any] = found[0]
    return alarm


def alarm_in_alarm(event: AlarmStateChangeEvent) -> dict[str, Any]:
    """The alarm as CloudWatch has it now (a metric or a composite alarm). It must exist, be
    in ALARM, and watch the dimensions the event claims: the workflow acts on what the alarm
    watches."""
    name = event.detail.alarmName
    alarm = alarm_named(name)
    if alarm["StateValue"] != "ALARM":
        raise InputInvalid(
            f"detail.alarmName: alarm {excerpt(name)} is {alarm['StateValue']} now, not ALARM"
        )
    watched = {d["Name"]: d["Value"] for d in alarm.get("Dimensions", [])}
    for key, claimed in event.metric_dimensions().items():
        if watched and watched.get(key) != claimed:
            raise InputInvalid(
                f"{DIMENSIONS}.{key}: the alarm watches {excerpt(watched.get(key))}, "
                f"not {excerpt(claimed)}"
            )
    return alarm
