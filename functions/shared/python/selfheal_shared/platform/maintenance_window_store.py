"""The maintenance window's reads and writes of AWS (beside `maintenance_window`'s pure
logic): its registered configuration and the deployed flag document."""

from __future__ import annotations

import json
from typing import Any

from ..core import appconfig_deploy
from ..core.clients import client
from ..core.errors import NothingFound
from ..core.models import parse
from .maintenance_window import PARAMETER, AppConfigTarget, MaintenanceConfig, with_flags


def config() -> MaintenanceConfig:
    ssm = client("ssm")
    try:
        text = ssm.get_parameter(Name=PARAMETER)["Parameter"]["Value"]
    except ssm.exceptions.ParameterNotFound:
        raise NothingFound(
            f"the maintenance window is not configured ({PARAMETER}: the AppConfig flag "
            "profile, the functions to health-check and the buckets' tag)"
        ) from None
    return parse(MaintenanceConfig, json.loads(text), f"maintenance configuration {PARAMETER}")


def where(target: AppConfigTarget) -> appconfig_deploy.Where:
    return appconfig_deploy.Where(**target.model_dump())


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


def set_flags(target: AppConfigTarget, values: dict[str, bool], key: str, description: str) -> int:
    """The deployed document with these flags set, saved and deployed once under `key`."""
    _, doc = deployed(target)
    return appconfig_deploy.save_and_deploy(
        where(target), with_flags(doc, values), key, description
    )
