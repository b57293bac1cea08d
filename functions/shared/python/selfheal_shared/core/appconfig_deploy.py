"""An AppConfig change exactly once: save a hosted version and deploy it, under an effect key.

Neither CreateHostedConfigurationVersion nor StartDeployment takes a client token, and an
SDK retry after a lost response would save or deploy twice. So each is called once, the
key rides in the version's description, and "did it land?" is asked of AppConfig itself:
a saved version with the key, deployed to the environment.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from .clients import client

#: AppConfig's limit on a description.
DESCRIPTION_CHARS = 1024


@dataclass(frozen=True)
class Where:
    application: str
    environment: str
    profile: str
    strategy: str


def saved_under(where: Where, key: str) -> int | None:
    """The version saved under `key`, if an earlier attempt saved it."""
    pages = client("appconfig").get_paginator("list_hosted_configuration_versions")
    for page in pages.paginate(
        ApplicationId=where.application, ConfigurationProfileId=where.profile
    ):
        for item in page.get("Items", []):
            if str(item.get("Description", "")).split(" ", 1)[0] == key:
                return int(item["VersionNumber"])
    return None


def deployed_under(where: Where, key: str) -> int | None:
    """The version saved under `key` when a deployment of it exists: the change landed."""
    version = saved_under(where, key)
    if version is None:
        return None
    items = client("appconfig").list_deployments(
        ApplicationId=where.application, EnvironmentId=where.environment
    )["Items"]
    deployed = any(
        d.get("ConfigurationProfileId") == where.profile
        and str(d.get("ConfigurationVersion")) == str(version)
        for d in items
    )
    return version if deployed else None


def save_and_deploy(
    where: Where,
    document: dict[str, Any],
    key: str,
    description: str,
    *,
    latest: int | None = None,
) -> int:
    """Save `document` (unless an earlier attempt saved it under `key`) and deploy it.
    `latest`: the newest version read before editing (AppConfig refuses the save with a
    ConflictException when someone saved another since)."""
    ac = client("appconfig", sdk_retries=False)
    text = f"{key} {description}"[:DESCRIPTION_CHARS]
    version = saved_under(where, key)
    if version is None:
        extra = {"LatestVersionNumber": latest} if latest is not None else {}
        created = ac.create_hosted_configuration_version(
            ApplicationId=where.application,
            ConfigurationProfileId=where.profile,
            Content=json.dumps(document).encode(),
            ContentType="application/json",
            Description=text,
            **extra,
        )
        version = int(created["VersionNumber"])
    ac.start_deployment(
        ApplicationId=where.application,
        EnvironmentId=where.environment,
        DeploymentStrategyId=where.strategy,
        ConfigurationProfileId=where.profile,
        ConfigurationVersion=str(version),
        Description=text,
    )
    return version
