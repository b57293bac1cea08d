"""The 5xx rollback's incident (runbook 001 D1) and what its states pass on: the last
deployment, the implicated feature flags, and the branch the evidence picks."""

from __future__ import annotations

from typing import Literal

from pydantic import ConfigDict, Field

from ..core.basemodel import Model


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
