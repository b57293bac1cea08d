"""Critical system failure (runbook 001 "Falha Crítica do Sistema", catalog D2): what the
workflow's states pass on, and the configuration that says what is critical.

Which functions are checked, which CodeDeploy applications are looked at and which flags
are non-critical is configuration (`config/critical_failure.json`, staged into the layer),
never guessed: a flag the file does not list as non-critical is left alone.
"""

from __future__ import annotations

import hashlib
import json
from functools import cache
from pathlib import Path
from typing import Literal

from pydantic import ConfigDict, Field

from ..core import layer_files
from ..core.basemodel import Model
from ..core.errors import InputInvalid

AUTOMATION = "critical_failure"
#: The scope the guards (kill switch, silences, maintenance windows) are read for.
SCOPE = "ons-data-platform"
CONFIG = "critical_failure.json"
PACKAGED = Path(__file__).parents[1] / "config"
REPOSITORY = Path(__file__).resolve().parents[5] / "config"
#: Statuses of a deployment CodeDeploy is done with: a stop has landed (with its rollback).
STOPPED = ("Stopped", "Failed")


class AppConfigLocation(Model):
    """The feature-flag profile, by the names it was deployed with (the runbook's terraform
    outputs); the ids are looked up at run time."""

    model_config = ConfigDict(extra="forbid")

    application: str = Field(min_length=1)
    environment: str = Field(min_length=1)
    profile: str = Field(min_length=1)
    strategy: str = "AppConfig.AllAtOnce"


class HealthThreshold(Model):
    model_config = ConfigDict(extra="forbid")

    errorsPerMinute: int = Field(ge=1)
    minutes: int = Field(ge=1, le=60)


class CriticalConfig(Model):
    model_config = ConfigDict(extra="forbid")

    why: str = Field(min_length=20)
    system: str = Field(min_length=1)
    codedeployApplications: list[str] = Field(min_length=1)
    appconfig: AppConfigLocation
    nonCriticalFlags: list[str] = Field(min_length=1)
    functions: list[str] = Field(min_length=1)
    health: HealthThreshold


@cache
def config() -> CriticalConfig:
    """The deployment's configuration; refused naming the field when malformed."""
    path = layer_files.find(CONFIG, PACKAGED, REPOSITORY, "critical-failure configuration")
    try:
        return CriticalConfig.model_validate(json.loads(path.read_text()))
    except ValueError as exc:
        raise InputInvalid(f"{CONFIG}: {exc}") from exc


class ManualStart(Model):
    """A manual execution (`aws stepfunctions start-execution --input ...`)."""

    model_config = ConfigDict(extra="forbid", strict=True)

    reason: str = Field(min_length=3, max_length=500)
    requestedBy: str = Field(min_length=1, max_length=128)


class FlagsOn(Model):
    """The non-critical flags on in the configuration AppConfig deployed last."""

    application: str
    environment: str
    profile: str
    strategy: str
    deployedVersion: int | None = None
    on: list[str] = Field(default_factory=list)
    #: Listed as non-critical but not in the document: reported, never invented.
    unknown: list[str] = Field(default_factory=list)


class CriticalIncident(Model):
    """One critical failure: what started it and what was found before anything acts."""

    model_config = ConfigDict(extra="forbid")

    incidentId: str
    executionId: str
    automation: str = AUTOMATION
    trigger: Literal["alarm", "manual"]
    reason: str
    requestedBy: str
    detectedAt: str
    alarmName: str | None = None
    #: CodeDeploy deployments InProgress at the survey, `application/group/id`.
    deployments: list[str] = Field(default_factory=list)
    flags: FlagsOn


def incident_id(basis: str) -> str:
    """The same trigger gives the same id, however often it is delivered."""
    return f"{AUTOMATION}-{hashlib.sha256(basis.encode()).hexdigest()[:16]}"


def deployment_parts(ref: str) -> tuple[str, str, str]:
    """`application/group/id` -> its parts."""
    app, group, dep = ref.split("/", 2)
    return app, group, dep
