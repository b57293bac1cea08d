"""What cost hygiene reads and changes in the account (Lambda versions and aliases,
CodeDeploy deployments, log groups, the raw bucket's lifecycle), one small call each, so
the plan and the actions share them and the decisions stay pure (`cost_hygiene`)."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from selfheal_shared.core.clients import client

from .cost_hygiene import ACTIVE_DEPLOYMENT, appspec_versions


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def error_text(exc: ClientError) -> str:
    """An AWS error as people read it: its code and message."""
    err = exc.response.get("Error", {})
    return f"{err.get('Code', '')}: {err.get('Message', '')}"


def function_exists(function: str) -> bool:
    try:
        client("lambda").get_function(FunctionName=function)
    except ClientError as exc:
        if _code(exc) == "ResourceNotFoundException":
            return False
        raise
    return True


def versions(function: str) -> list[str]:
    out: list[str] = []
    for page in (
        client("lambda").get_paginator("list_versions_by_function").paginate(FunctionName=function)
    ):
        out += [str(v["Version"]) for v in page["Versions"]]
    return out


def aliased(function: str) -> dict[str, str]:
    """Version -> why it stays (the aliases pointing at it, routing weights included)."""
    out: dict[str, list[str]] = {}
    for page in client("lambda").get_paginator("list_aliases").paginate(FunctionName=function):
        for alias in page["Aliases"]:
            out.setdefault(str(alias["FunctionVersion"]), []).append(str(alias["Name"]))
            weights = (alias.get("RoutingConfig") or {}).get("AdditionalVersionWeights") or {}
            for version in weights:
                out.setdefault(str(version), []).append(f"{alias['Name']} (weighted)")
    return {v: "behind alias " + ", ".join(names) for v, names in out.items()}


def mapped() -> dict[tuple[str, str], str]:
    """(function, version) -> why it stays: a published version an event source mapping
    invokes (a queue or a stream reads into it; deleting it would break the mapping). Every
    mapping of the account is read: ListEventSourceMappings filtered by a function name
    does not promise to return the mappings of its versions."""
    out: dict[tuple[str, str], list[str]] = {}
    for page in client("lambda").get_paginator("list_event_source_mappings").paginate():
        for m in page["EventSourceMappings"]:
            parts = str(m.get("FunctionArn", "")).split(":")
            if len(parts) == 8 and parts[7].isdigit():
                source = str(m.get("EventSourceArn", "")).rsplit(":", 1)[-1]
                out.setdefault((parts[6], parts[7]), []).append(source or str(m.get("UUID")))
    return {k: "read by event source mapping " + ", ".join(v) for k, v in out.items()}


def deployed() -> tuple[dict[tuple[str, str], str], list[str]]:
    """((function, version) -> why it stays, deployments whose versions cannot be read).
    Kept: the current and target versions of every deployment not over yet, and of the
    newest deployment of each group (its target is what runs, or its current after a
    rollback). Every page of every list is read: ListDeployments has no documented order,
    so the newest is found over the group's whole history."""
    cd = client("codedeploy")
    kept: dict[tuple[str, str], str] = {}
    unreadable: list[str] = []
    for page in cd.get_paginator("list_applications").paginate():
        for app in page["applications"]:
            for group in _all(cd, "list_deployment_groups", "deploymentGroups", app):
                infos = _infos(cd, _all(cd, "list_deployments", "deployments", app, group))
                newest = max(infos, key=lambda i: str(i.get("createTime") or ""), default=None)
                for info in infos:
                    if info.get("computePlatform") not in (None, "Lambda"):
                        continue
                    active = info.get("status") in ACTIVE_DEPLOYMENT
                    if not (active or info is newest):
                        continue
                    why = (
                        f"CodeDeploy deployment {info['deploymentId']} ({app}/{group}, "
                        f"{info.get('status')})"
                    )
                    try:
                        for pair in appspec_versions(_appspec(info)):
                            kept[pair] = why
                    except ValueError as exc:
                        unreadable.append(f"{info['deploymentId']}: {exc}")
    return kept, unreadable


def _all(cd: Any, operation: str, key: str, app: str, group: str | None = None) -> list[str]:
    """Every page of a CodeDeploy list (nextToken followed to the end)."""
    kwargs = {"applicationName": app} | ({"deploymentGroupName": group} if group else {})
    out: list[str] = []
    for page in cd.get_paginator(operation).paginate(**kwargs):
        out += [str(x) for x in page[key]]
    return out


def _infos(cd: Any, ids: list[str]) -> list[dict[str, Any]]:
    return [cd.get_deployment(deploymentId=d)["deploymentInfo"] for d in ids]


def _appspec(info: dict[str, Any]) -> str:
    revision = info.get("revision") or {}
    for key in ("appSpecContent", "string"):
        body = revision.get(key) or {}
        if body.get("content"):
            return str(body["content"])
    raise ValueError(f"revision type {revision.get('revisionType')} carries no AppSpec content")


def version_gone(function: str, version: str) -> bool:
    try:
        client("lambda").get_function(FunctionName=function, Qualifier=version)
    except ClientError as exc:
        if _code(exc) == "ResourceNotFoundException":
            return True
        raise
    return False


def delete_version(function: str, version: str) -> bool:
    """Only ever a qualified delete: the function itself is never touched. False when the
    version was already gone (another run, or a person, deleted it first)."""
    if not version.isdigit():
        raise ValueError(f"refusing to delete {function}:{version}: not a published version")
    try:
        client("lambda", sdk_retries=False).delete_function(
            FunctionName=function, Qualifier=version
        )
    except ClientError as exc:
        if _code(exc) == "ResourceNotFoundException":
            return False
        raise
    return True


def log_groups() -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for page in client("logs").get_paginator("describe_log_groups").paginate():
        out += page["logGroups"]
    return out


def retention_of(group: str) -> int | None:
    for page in (
        client("logs").get_paginator("describe_log_groups").paginate(logGroupNamePrefix=group)
    ):
        for g in page["logGroups"]:
            if g["logGroupName"] == group:
                days = g.get("retentionInDays")
                return int(days) if days else None
    raise LookupError(f"log group {group} no longer exists")


def put_retention(group: str, days: int) -> None:
    client("logs").put_retention_policy(logGroupName=group, retentionInDays=days)


def lifecycle_rules(bucket: str) -> list[dict[str, Any]]:
    return lifecycle(bucket)[0]


def lifecycle(bucket: str) -> tuple[list[dict[str, Any]], str | None]:
    """(the bucket's lifecycle rules, its TransitionDefaultMinimumObjectSize): a put
    without the size would reset it to AWS's default, so it is read to be put back."""
    try:
        found = client("s3").get_bucket_lifecycle_configuration(Bucket=bucket)
    except ClientError as exc:
        if _code(exc) == "NoSuchLifecycleConfiguration":
            return [], None
        raise
    size = found.get("TransitionDefaultMinimumObjectSize")
    return [dict(r) for r in found["Rules"]], str(size) if size else None


def put_lifecycle_rules(bucket: str, rules: list[dict[str, Any]], min_size: str | None) -> None:
    client("s3").put_bucket_lifecycle_configuration(
        Bucket=bucket,
        LifecycleConfiguration={"Rules": rules},
        **({"TransitionDefaultMinimumObjectSize": min_size} if min_size else {}),
    )
