"""The maintenance window's reads and writes of AWS (beside `maintenance_window`'s pure
logic): its registered configuration, the deployed flag document, the backup listing and
the functions' health."""

from __future__ import annotations

import json
from datetime import datetime
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


def listing(bucket: str, prefix: str = "") -> dict[str, tuple[int, str]]:
    """Key (without `prefix`) -> (size, ETag) of every object under `prefix`."""
    out = {}
    for page in (
        client("s3").get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
    ):
        for obj in page.get("Contents", []):
            out[obj["Key"][len(prefix) :]] = (obj["Size"], obj["ETag"])
    return out


def function_health(name: str, since: datetime, until: datetime) -> str | None:
    """None when `name` exists, is Active, and logged no Errors between `since` and
    `until`; else what is wrong (runbook 001 `rollback.py --action health-check`)."""
    lam = client("lambda")
    try:
        cfg = lam.get_function_configuration(FunctionName=name)
    except lam.exceptions.ResourceNotFoundException:
        return "function not found"
    state = cfg.get("State", "Active")
    if state != "Active":
        return f"state {state}: {cfg.get('StateReason', '')}".rstrip(": ")
    if cfg.get("LastUpdateStatus", "Successful") == "Failed":
        return f"last update failed: {cfg.get('LastUpdateStatusReason', '')}".rstrip(": ")
    points = client("cloudwatch").get_metric_statistics(
        Namespace="AWS/Lambda",
        MetricName="Errors",
        Dimensions=[{"Name": "FunctionName", "Value": name}],
        StartTime=since,
        EndTime=until,
        Period=60,
        Statistics=["Sum"],
    )["Datapoints"]
    errors = int(sum(p.get("Sum", 0) for p in points))
    return f"{errors} errors since {since:%H:%M} UTC" if errors else None
