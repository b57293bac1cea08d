"""When an alias was pointed at the version it serves (runbook 001 D1 "Verificar implantações
recentes"): the deployment that matters is the alias change, not the version's publish.

A Lambda alias has no timestamp (GetAlias returns none), so AWS knows the change only from
CloudTrail: the `CreateAlias20150331` / `UpdateAlias20150331` management events (Lambda's
event names carry the API version), whose `requestParameters` name the function (by name
or ARN), the alias and the version. LookupEvents takes one lookup attribute per call.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from ..core.clients import client

EVENT_NAMES = ("UpdateAlias20150331", "CreateAlias20150331")


def _function_of(value: str) -> str:
    """`name`, `arn:...:function:name` or `arn:...:function:name:qualifier` -> name."""
    if ":function:" in value:
        return value.split(":function:", 1)[1].split(":", 1)[0]
    return value


def alias_changed_at(
    function_name: str, alias: str, version: str, start: datetime, end: datetime
) -> datetime | None:
    """When the alias was last pointed at `version` between `start` and `end`, from
    CloudTrail; None when no such successful change is recorded in that window."""
    trail = client("cloudtrail")
    latest: datetime | None = None
    for name in EVENT_NAMES:
        pages = trail.get_paginator("lookup_events").paginate(
            LookupAttributes=[{"AttributeKey": "EventName", "AttributeValue": name}],
            StartTime=start,
            EndTime=end,
        )
        for event in (e for page in pages for e in page.get("Events", [])):
            detail: dict[str, Any] = json.loads(event.get("CloudTrailEvent") or "{}")
            params = detail.get("requestParameters") or {}
            if (
                detail.get("errorCode")
                or _function_of(str(params.get("functionName", ""))) != function_name
                or params.get("name") != alias
                or str(params.get("functionVersion")) != version
            ):
                continue
            at: datetime = event["EventTime"]
            if latest is None or at > latest:
                latest = at
    return latest
