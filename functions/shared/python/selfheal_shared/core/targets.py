"""Refuse a trigger whose target does not exist or is not in the state it claims, before
anything acts: an event naming `" "`, `*orders-api` or an alarm that is back to OK must
never roll back the function the event's other fields happen to name. An alarm event the
alarm's own later state has overtaken (`superseded`) is not refused: it is recorded as what
it is (recovered by itself, or a late clear) and nothing acts on it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from . import clock
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


@dataclass(frozen=True)
class Superseded:
    """An alarm state change that the alarm's own later state has overtaken (EventBridge
    does not deliver events in order, and the alarm may move before the workflow reads it):
    `recovered` when it was an ALARM and the alarm is OK since, by itself."""

    recovered: bool
    why: str


def _aware(value: Any) -> datetime:
    at = value if isinstance(value, datetime) else clock.parse_aws_time(str(value))
    return at if at.tzinfo else at.replace(tzinfo=UTC)


def _ms(at: datetime) -> datetime:
    """To the millisecond: the precision of the event's `detail.state.timestamp`."""
    return at.replace(microsecond=at.microsecond // 1000 * 1000)


def superseded(detail: Any, alarm: dict[str, Any]) -> Superseded | None:
    """Whether the state change in `detail` (a `CloudWatch Alarm State Change` event's
    `detail`) is older than the state the alarm (DescribeAlarms' `alarm`) has now, ordered
    by the alarm's own timestamps (`detail.state.timestamp` against the alarm's
    `StateUpdatedTimestamp`), never by arrival:

    - an ALARM the alarm has left for OK since: the alarm recovered by itself;
    - an OK the alarm has left for ALARM since: a late clear, ignored (the ALARM is current).

    None otherwise: the event is the alarm's current state (an older ALARM of an alarm in
    ALARM again claims what is true), an ALARM over INSUFFICIENT_DATA (no recovery), or it
    cannot be ordered (older than the alarm's `AlarmConfigurationUpdatedTimestamp`: not a
    state of the alarm as configured now; a timestamp that is not one is the next state's
    to refuse, naming the field). No I/O; never raises."""
    if not isinstance(detail, dict) or not isinstance(detail.get("state"), dict):
        return None
    claimed, stamp = detail["state"].get("value"), detail["state"].get("timestamp")
    now_value, since = alarm.get("StateValue"), alarm.get("StateUpdatedTimestamp")
    if (claimed, now_value) not in (("ALARM", "OK"), ("OK", "ALARM")):
        return None
    if not _claims_what_it_watches(detail, alarm):
        return None  # not this alarm's event as CloudWatch writes it: the next state refuses it
    configured = alarm.get("AlarmConfigurationUpdatedTimestamp")
    try:
        at = clock.parse_aws_time(str(stamp))
        since = _aware(since)
        configured = _aware(configured) if configured is not None else None
    except (ValueError, TypeError, OverflowError):
        return None
    if _ms(since) <= _ms(at):
        return None
    if configured is not None and _ms(at) < _ms(configured):
        # Older than the alarm as it is configured now (created or changed since): not one
        # of its states, so not ordered against them; the workflow judges it as before.
        return None
    name = excerpt(alarm.get("AlarmName", detail.get("alarmName")))
    previous = detail.get("previousState")
    was = f" (from {previous.get('value')})" if isinstance(previous, dict) else ""
    told = f"{claimed}{was} of {at.isoformat()}"
    if claimed == "ALARM":
        return Superseded(
            True,
            f"alarm {name} recovered by itself: OK since {since.isoformat()}, after the "
            f"{told} this event reports; no action, no page",
        )
    return Superseded(
        False,
        f"alarm {name}: the {told} this event reports is older than its ALARM since "
        f"{since.isoformat()}; the late clear is ignored",
    )


def _claims_what_it_watches(detail: dict[str, Any], alarm: dict[str, Any]) -> bool:
    """Whether the event's metrics (`detail.configuration.metrics`) are the ones the alarm
    watches: same namespace, metric name and dimensions (a composite alarm watches no
    metric). An event that claims otherwise is malformed input, refused by the workflow's
    next state naming the field, never filed away as an overtaken state change."""
    config = detail.get("configuration")
    metrics = config.get("metrics", []) if isinstance(config, dict) else None
    if not isinstance(metrics, list):
        return False
    if "AlarmRule" in alarm:
        return not metrics
    watched = {d.get("Name"): d.get("Value") for d in alarm.get("Dimensions", [])}
    seen = False
    for m in metrics:
        stat = m.get("metricStat") if isinstance(m, dict) else None
        metric = stat.get("metric") if isinstance(stat, dict) else None
        if metric is None:
            continue
        if not isinstance(metric, dict) or not isinstance(metric.get("dimensions", {}), dict):
            return False
        if (metric.get("namespace"), metric.get("name")) != (
            alarm.get("Namespace"),
            alarm.get("MetricName"),
        ) or metric.get("dimensions", {}) != watched:
            return False
        seen = True
    return seen
