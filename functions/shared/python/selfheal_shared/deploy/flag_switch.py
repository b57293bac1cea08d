"""Set named flags of an AppConfig feature-flag profile on or off, once per effect key, and
say what AppConfig deploys now (critical failure, catalog D2: off during the incident, on
again at the human gate). Only flags the document defines are touched; never invented."""

from __future__ import annotations

import json
from typing import Any

from ..core import appconfig_deploy
from ..core.clients import client
from .critical import FlagsOn

LIVE_STATES = ("COMPLETE", "DEPLOYING", "BAKING")


def where(flags: FlagsOn) -> appconfig_deploy.Where:
    return appconfig_deploy.Where(
        flags.application, flags.environment, flags.profile, flags.strategy
    )


def deployed_version(flags: FlagsOn) -> int | None:
    """The configuration version of the newest live deployment of the profile."""
    items = client("appconfig").list_deployments(
        ApplicationId=flags.application, EnvironmentId=flags.environment
    )["Items"]
    mine = [
        d
        for d in items
        if d.get("ConfigurationProfileId") == flags.profile and d.get("State") in LIVE_STATES
    ]
    if not mine:
        return None
    return int(max(mine, key=lambda d: d["DeploymentNumber"])["ConfigurationVersion"])


def document(flags: FlagsOn, version: int) -> dict[str, Any]:
    resp = client("appconfig").get_hosted_configuration_version(
        ApplicationId=flags.application, ConfigurationProfileId=flags.profile, VersionNumber=version
    )
    return dict(json.loads(resp["Content"].read()))


def latest_version(flags: FlagsOn) -> int:
    items = client("appconfig").list_hosted_configuration_versions(
        ApplicationId=flags.application, ConfigurationProfileId=flags.profile
    )["Items"]
    return max(int(v["VersionNumber"]) for v in items)


def enabled(flags: FlagsOn, names: list[str]) -> dict[str, bool]:
    """Each named flag's state in the deployed configuration."""
    version = deployed_version(flags)
    values = document(flags, version).get("values", {}) if version is not None else {}
    return {n: bool(values.get(n, {}).get("enabled", False)) for n in names}


def set_flags(flags: FlagsOn, names: list[str], on: bool, key: str, description: str) -> int:
    """Save the newest document with `names` set to `on` and deploy it; the version."""
    latest = latest_version(flags)
    doc = document(flags, latest)
    known = doc.get("flags", {})
    for name in names:
        if name in known:
            doc.setdefault("values", {}).setdefault(name, {})["enabled"] = on
    return appconfig_deploy.save_and_deploy(where(flags), doc, key, description, latest=latest)
