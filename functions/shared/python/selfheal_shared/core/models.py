"""The shared pydantic models of what arrives: the CloudWatch alarm state change's detail
(the event itself, on powertools' EventBridge model, is `alarm_event`, which imports this
module: never the other way round), and `parse`, which validates any model with an
`InputInvalid` naming every bad field."""

from __future__ import annotations

from typing import Any, Literal, TypeVar

from pydantic import BaseModel, Field, ValidationError

from .basemodel import Model
from .errors import InputInvalid

AlarmStateValue = Literal["OK", "ALARM", "INSUFFICIENT_DATA"]


class MetricDefinition(Model):
    namespace: str | None = None
    name: str
    dimensions: dict[str, str] = Field(default_factory=dict)


class MetricStat(Model):
    metric: MetricDefinition
    period: int | None = None
    stat: str | None = None


class AlarmMetric(Model):
    id: str
    metricStat: MetricStat | None = None
    expression: str | None = None
    returnData: bool | None = None


class AlarmState(Model):
    value: AlarmStateValue
    reason: str = ""
    #: JSON text; a composite alarm's names the `triggeringAlarms`.
    reasonData: str = ""
    timestamp: str = Field(min_length=1)


class AlarmConfiguration(Model):
    description: str | None = None
    metrics: list[AlarmMetric] = Field(default_factory=list)
    #: A composite alarm's rule (`ALARM(child) OR ...`); metric alarms have none.
    alarmRule: str | None = None


class AlarmStateChangeDetail(Model):
    alarmName: str = Field(min_length=1, max_length=255)
    state: AlarmState
    previousState: AlarmState | None = None
    configuration: AlarmConfiguration


M = TypeVar("M", bound=BaseModel)


def parse(model: type[M], data: Any, what: str) -> M:
    """Validate or raise InputInvalid naming every bad field."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise InputInvalid.from_validation(what, exc) from None
