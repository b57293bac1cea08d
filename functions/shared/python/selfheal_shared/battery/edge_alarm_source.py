"""Battery alarms raised by CloudWatch, as the same signal an edge sends on
`lifo4/{edgeId}/alarms` (runbook 000 §5/§6), so the workflows do not care where it came from.

The convention (README "CloudWatch battery alarms"): a metric alarm on a metric in the
`LIFO4/Edge` namespace whose dimensions name the edge (`EdgeId`, its IoT thing name) and
the runbook's alarm type (`AlarmType`, e.g. `OVER_TEMPERATURE`). ALARM raises the alarm,
OK clears it. Anything else is refused with the field named. No I/O here.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any, get_args

from pydantic import ValidationError

from ..core.errors import InputInvalid, excerpt
from ..core.models import parse
from ..edge.edges import EDGE_ID, AlarmPayload, Signal

NAMESPACE = "LIFO4/Edge"
EDGE_DIMENSION = "EdgeId"
TYPE_DIMENSION = "AlarmType"
_DIMENSIONS = "detail.configuration.metrics[].metricStat.metric.dimensions"
KINDS: tuple[str, ...] = get_args(AlarmPayload.model_fields["alarm"].annotation)
STATES = {"ALARM": "active", "OK": "cleared"}
#: How the reason of an alarm raised here begins: the CloudWatch alarm's own state reason
#: (a threshold crossed), never what caused the condition (e.g. an E-Stop's cause).
REASON_PREFIX = "CloudWatch alarm "


def signal(event: dict[str, Any]) -> Signal:
    """The alarm signal a `CloudWatch Alarm State Change` event of the convention carries."""
    from ..core.alarm_event import AlarmStateChangeEvent

    alarm = parse(AlarmStateChangeEvent, event, "CloudWatch alarm event")
    state = alarm.detail.state
    if state.value not in STATES:
        raise InputInvalid(f"detail.state.value: expected ALARM or OK, got {state.value!r}")
    metrics = [m.metricStat.metric for m in alarm.detail.configuration.metrics if m.metricStat]
    ours = [m for m in metrics if m.namespace == NAMESPACE]
    if not ours:
        raise InputInvalid(
            "detail.configuration.metrics[].metricStat.metric.namespace: no metric in "
            f"{NAMESPACE} ({excerpt([m.namespace for m in metrics])})"
        )
    dims = ours[0].dimensions
    edge = dims.get(EDGE_DIMENSION, "")
    if not re.fullmatch(EDGE_ID, edge):
        raise InputInvalid(f"{_DIMENSIONS}.{EDGE_DIMENSION}: {excerpt(edge)} is not an edge id")
    kind = dims.get(TYPE_DIMENSION, "")
    if kind not in KINDS:
        raise InputInvalid(
            f"{_DIMENSIONS}.{TYPE_DIMENSION}: {excerpt(kind)} is not one of {', '.join(KINDS)}"
        )
    try:
        at = datetime.strptime(state.timestamp, "%Y-%m-%dT%H:%M:%S.%f%z")
    except ValueError:
        raise InputInvalid(
            f"detail.state.timestamp: {excerpt(state.timestamp)} is not a CloudWatch timestamp"
        ) from None
    body = {
        "alarm": kind,
        "state": STATES[state.value],
        "ts": at.timestamp(),
        "reason": f"{REASON_PREFIX}{alarm.detail.alarmName}: {state.reason}"[:200],
    }
    try:
        payload = AlarmPayload.model_validate(body).model_dump()
    except ValidationError as exc:  # pragma: no cover - built above from checked values
        raise InputInvalid.from_validation("alarm", exc) from None
    return Signal(edgeId=edge, kind="alarm", payload=payload)
