"""Degraded mode of the Equivalence Engine (runbook 002 "INCIDENTE 3 — Mapper externo não
responde (SEV-3)": "Fallback mapper deve ativar automaticamente").

The mapper is registered in Parameter Store (`/selfheal/mapper/<name>`: its health URL and
the AppConfig feature-flag profile that carries `fallbackMapper`). Degraded mode is that
flag on in the deployed configuration. It is switched off only after a sustained healthy
period of real probes of the external mapper: the runbook gives no figure, so selfheal
uses 15 minutes of consecutive successful probes, one a minute; a failed probe (a flap)
starts the period again. With no such period within an hour the fallback stays on and L1
is paged (runbook 000: a SEV-3 left degraded past the first hour goes to people).
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel, Field

from ..core import appconfig_deploy
from ..core.clients import client
from ..core.errors import NothingFound
from ..core.models import parse

FLAG = "fallbackMapper"
HEALTHY_MINUTES = 15
WATCH_MINUTES = 60
PROBE_TIMEOUT_SECONDS = 3.0


class AppConfigTarget(BaseModel):
    application: str = Field(min_length=1)
    environment: str = Field(min_length=1)
    profile: str = Field(min_length=1)
    strategy: str = Field(default="AppConfig.AllAtOnce", min_length=1)


class MapperConfig(BaseModel):
    #: The external mapper's health endpoint (runbook 002: `curl .../health`).
    health: str = Field(pattern=r"^https?://[^\s]+$")
    appconfig: AppConfigTarget
    flag: str = Field(default=FLAG, min_length=1)


def parameter_name(mapper: str) -> str:
    return f"/selfheal/mapper/{mapper}"


def config(mapper: str) -> MapperConfig:
    ssm = client("ssm")
    try:
        text = ssm.get_parameter(Name=parameter_name(mapper))["Parameter"]["Value"]
    except ssm.exceptions.ParameterNotFound:
        raise NothingFound(
            f"mapper {mapper!r} is not registered ({parameter_name(mapper)})"
        ) from None
    return parse(MapperConfig, json.loads(text), f"mapper registry {parameter_name(mapper)}")


def probe(url: str) -> str | None:
    """One real probe of the external mapper: None when healthy, else what went wrong."""
    try:
        with urllib.request.urlopen(url, timeout=PROBE_TIMEOUT_SECONDS) as resp:
            return None if resp.status == 200 else f"answered {resp.status}"
    except urllib.error.HTTPError as exc:
        return f"answered {exc.code}"
    except OSError as exc:
        return f"unreachable: {exc}"


def watch_step(watch: dict[str, Any], problem: str | None, now: datetime) -> dict[str, Any]:
    """The next state of the healthy-period watch after one probe (pure): a failure resets
    the period (a flap when one had started); sustained after `HEALTHY_MINUTES` of
    consecutive healthy probes; exhausted after `WATCH_MINUTES` without that."""
    started = watch.get("startedAt") or now.isoformat()
    since = watch.get("healthySince")
    flaps = int(watch.get("flaps", 0))
    if problem is None:
        since = since or now.isoformat()
    else:
        flaps += 1 if since else 0
        since = None
    sustained = since is not None and now - datetime.fromisoformat(since) >= timedelta(
        minutes=HEALTHY_MINUTES
    )
    exhausted = not sustained and now - datetime.fromisoformat(started) >= timedelta(
        minutes=WATCH_MINUTES
    )
    return {
        "startedAt": started,
        "healthySince": since,
        "probes": int(watch.get("probes", 0)) + 1,
        "flaps": flaps,
        "last": problem or "healthy",
        "sustained": sustained,
        "exhausted": exhausted,
    }


def with_flag(document: dict[str, Any], flag: str, on: bool) -> dict[str, Any]:
    """An AWS.AppConfig.FeatureFlags document with `flag` set (pure; declared if missing)."""
    doc = json.loads(json.dumps(document))
    doc.setdefault("version", "1")
    doc.setdefault("flags", {}).setdefault(flag, {"name": flag})
    doc.setdefault("values", {}).setdefault(flag, {})["enabled"] = on
    return dict(doc)


def deployed(target: AppConfigTarget) -> tuple[int | None, dict[str, Any]]:
    """The configuration version AppConfig last deployed for the profile, and its document."""
    ac = client("appconfig")
    items = ac.list_deployments(ApplicationId=target.application, EnvironmentId=target.environment)[
        "Items"
    ]
    mine = [
        d
        for d in items
        if d.get("ConfigurationProfileId") == target.profile
        and d.get("State") in ("COMPLETE", "DEPLOYING", "BAKING")
    ]
    if not mine:
        return None, {}
    version = int(max(mine, key=lambda d: d["DeploymentNumber"])["ConfigurationVersion"])
    content = ac.get_hosted_configuration_version(
        ApplicationId=target.application,
        ConfigurationProfileId=target.profile,
        VersionNumber=version,
    )["Content"].read()
    return version, dict(json.loads(content))


def flag_on(target: AppConfigTarget, flag: str) -> bool:
    _, doc = deployed(target)
    return bool(doc.get("values", {}).get(flag, {}).get("enabled", False))


def where(target: AppConfigTarget) -> appconfig_deploy.Where:
    return appconfig_deploy.Where(**target.model_dump())


def set_flag(target: AppConfigTarget, flag: str, on: bool, key: str, description: str) -> int:
    """Save the deployed document with `flag` set as a new version and deploy it, once
    under `key` (`appconfig_deploy.deployed_under` finds it again)."""
    _, doc = deployed(target)
    return appconfig_deploy.save_and_deploy(
        where(target), with_flag(doc, flag, on), key, description
    )


AUTOMATION = "mapper_degraded"
NAMESPACE = "EquivalenceEngine/Mappers"
DIMENSION = "Mapper"


class MapperIncident(BaseModel):
    incidentId: str
    executionId: str
    mapper: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$")
    reason: str
