"""Which tagged flags are implicated (runbook 001 D1, "Se problema de configuração"): a flag
the alarming function's tags name (`selfheal:flags`, its profile in `selfheal:appconfig`)
counts only if an AppConfig deployment of that profile, within the window before the
alarm, turned it on. A flag on for weeks is not what broke the function this hour.

AppConfig's ListDeployments gives each deployment's number and times; GetDeployment gives
its configuration profile and version; GetHostedConfigurationVersion its document.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from ..core.clients import client
from .incident import FeatureFlags

#: Deployments that put their configuration in front of the function.
LIVE_STATES = ("COMPLETE", "DEPLOYING", "BAKING")
#: Deployments looked at, newest first, to find the one before a recent deployment.
MAX_LOOKED_AT = 50


def _when(deployment: dict[str, Any]) -> datetime | None:
    at = deployment.get("StartedAt")
    return at if isinstance(at, datetime) else None


def _enabled(ac: Any, ff: FeatureFlags, version: str) -> dict[str, bool]:
    doc = json.loads(
        ac.get_hosted_configuration_version(
            ApplicationId=ff.application,
            ConfigurationProfileId=ff.profile,
            VersionNumber=int(version),
        )["Content"].read()
    )
    values = doc.get("values", {})
    return {name: bool(values.get(name, {}).get("enabled", False)) for name in ff.flags}


def implicated(ff: FeatureFlags, start: datetime, end: datetime) -> tuple[list[str], list[str]]:
    """(flags turned on by a deployment of the function's profile between `start` and
    `end`, what was found for each deployment looked at)."""
    ac = client("appconfig")
    summaries = sorted(
        ac.list_deployments(ApplicationId=ff.application, EnvironmentId=ff.environment)["Items"],
        key=lambda d: -int(d["DeploymentNumber"]),
    )[:MAX_LOOKED_AT]
    mine: list[dict[str, Any]] = []
    for summary in summaries:
        if summary.get("State") not in LIVE_STATES:
            continue
        full = ac.get_deployment(
            ApplicationId=ff.application,
            EnvironmentId=ff.environment,
            DeploymentNumber=int(summary["DeploymentNumber"]),
        )
        if full.get("ConfigurationProfileId") == ff.profile:
            mine.append(full)
    turned_on: list[str] = []
    seen: list[str] = []
    for n, deployment in enumerate(mine):
        at = _when(deployment)
        if at is None or not start <= at <= end:
            continue
        now_on = _enabled(ac, ff, str(deployment["ConfigurationVersion"]))
        before = (
            _enabled(ac, ff, str(mine[n + 1]["ConfigurationVersion"]))
            if n + 1 < len(mine)
            else dict.fromkeys(ff.flags, False)
        )
        on = [f for f in ff.flags if now_on[f] and not before[f] and f not in turned_on]
        turned_on += on
        seen.append(
            f"deployment {deployment['DeploymentNumber']} at {at:%Y-%m-%d %H:%M}Z turned on "
            f"{' '.join(on) or 'none of them'}"
        )
    return turned_on, seen
