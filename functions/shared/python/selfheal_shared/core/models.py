"""Pydantic models of what arrives (events, manual input) and what flows between states."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .basemodel import Model
from .errors import InputInvalid

if TYPE_CHECKING:
    from .alarm_event import AlarmStateChangeEvent as AlarmStateChangeEvent

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


class Deployment(Model):
    """What the last deployment was and how to undo it."""

    kind: Literal["alias", "codedeploy", "none"]
    fromVersion: str | None = None
    toVersion: str | None = None
    deploymentId: str | None = None
    reason: str = ""


class FeatureFlags(Model):
    application: str
    environment: str
    profile: str
    flags: list[str]
    strategy: str = "AppConfig.AllAtOnce"


class Diagnosis(Model):
    """Which branch of the runbook the evidence picks (runbook 001 D1, "Resolução"): a recent
    deployment is rolled back first; the implicated flags are turned off only when there is
    no recent deployment, or when the alarm stays in ALARM after the rollback."""

    first: Literal["rollback", "disable_flags", "none"]
    then: Literal["disable_flags", "none"] = "none"
    #: The evidence for and against each branch, as recorded.
    deployment: str
    configuration: str
    summary: str


class Incident(Model):
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
    diagnosis: Diagnosis | None = None
    #: How the function was found from the alarm (an API stage's integration, a composite's
    #: child), when the alarm does not name it.
    resolvedVia: list[str] = Field(default_factory=list)


M = TypeVar("M", bound=BaseModel)


def parse(model: type[M], data: Any, what: str) -> M:
    """Validate or raise InputInvalid naming every bad field."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise InputInvalid.from_validation(what, exc) from None


def __getattr__(name: str) -> Any:
    """`AlarmStateChangeEvent` is imported on first use: it extends powertools'
    `EventBridgeModel`, and importing that (the parser package) is cold start that only
    the few handlers parsing alarm events need."""
    if name == "AlarmStateChangeEvent":
        from .alarm_event import AlarmStateChangeEvent

        return AlarmStateChangeEvent
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
