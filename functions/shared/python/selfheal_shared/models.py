"""Pydantic models of what arrives (events, manual input) and what flows between states."""

from __future__ import annotations

from typing import Any, Literal, TypeVar

from aws_lambda_powertools.utilities.parser.models import EventBridgeModel
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .errors import InputInvalid

AlarmStateValue = Literal["OK", "ALARM", "INSUFFICIENT_DATA"]


class MetricDefinition(BaseModel):
    namespace: str | None = None
    name: str
    dimensions: dict[str, str] = Field(default_factory=dict)


class MetricStat(BaseModel):
    metric: MetricDefinition
    period: int | None = None
    stat: str | None = None


class AlarmMetric(BaseModel):
    id: str
    metricStat: MetricStat | None = None
    expression: str | None = None
    returnData: bool | None = None


class AlarmState(BaseModel):
    value: AlarmStateValue
    reason: str = ""
    timestamp: str = Field(min_length=1)


class AlarmConfiguration(BaseModel):
    description: str | None = None
    metrics: list[AlarmMetric] = Field(default_factory=list)


class AlarmStateChangeDetail(BaseModel):
    alarmName: str = Field(min_length=1, max_length=255)
    state: AlarmState
    previousState: AlarmState | None = None
    configuration: AlarmConfiguration


class AlarmStateChangeEvent(EventBridgeModel):
    """EventBridge "CloudWatch Alarm State Change" (the documented shape)."""

    detail: AlarmStateChangeDetail  # type: ignore[assignment]

    def metric_dimensions(self) -> dict[str, str]:
        """Dimensions of the first metric that has any, which is where the resource lives."""
        for m in self.detail.configuration.metrics:
            if m.metricStat and m.metricStat.metric.dimensions:
                return m.metricStat.metric.dimensions
        return {}


class Deployment(BaseModel):
    """What the last deployment was and how to undo it."""

    kind: Literal["alias", "codedeploy", "none"]
    fromVersion: str | None = None
    toVersion: str | None = None
    deploymentId: str | None = None
    reason: str = ""


class FeatureFlags(BaseModel):
    application: str
    environment: str
    profile: str
    flags: list[str]
    strategy: str = "AppConfig.AllAtOnce"


class Incident(BaseModel):
    """The unit of idempotency, audit and correlation: one alarm transition, one incident."""

    model_config = ConfigDict(extra="forbid")

    incidentId: str
    executionId: str
    automation: str
    alarmName: str
    functionName: str
    alias: str
    detectedAt: str
    deployment: Deployment
    featureFlags: FeatureFlags | None = None


M = TypeVar("M", bound=BaseModel)


def parse(model: type[M], data: Any, what: str) -> M:
    """Validate or raise InputInvalid naming every bad field."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise InputInvalid.from_validation(what, exc) from None
