"""The reads behind the daily security checks (CloudTrail, IAM, EC2, CloudWatch Logs): read
only, each check on its own, so a refusal of one (AccessDenied) leaves the others' answers
and says which did not run. Throttling is left to the workflow's retry (`Transient`)."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError

from ..core.clients import client
from ..core.config import settings
from ..core.errors import bounded, is_transient
from . import security_checks as sc


def run(check: sc.Check, read: Callable[[], sc.Result]) -> sc.Result:
    """`read()`, or the check marked as not run with AWS's error (a throttle is retried)."""
    try:
        return read()
    except ClientError as exc:
        if is_transient(exc):
            raise
        err = exc.response.get("Error", {})
        return sc.not_run(check, bounded(f"{err.get('Code')}: {err.get('Message', '')}", 300))


def iam_policy_changes(start: datetime, end: datetime) -> sc.Result:
    """The configured IAM calls in the window, one lookup by event name each (the runbook's
    `AttributeKey=EventName` form): a lookup by event source would page through every IAM
    read too (this scan's own ListUsers among them) at LookupEvents' 2 requests a second.
    IAM is global: its events are in one region's event history only (us-east-1 in the aws
    partition), whatever region the platform runs in."""
    trail = client("cloudtrail", region=sc.iam_events_region(sc.region()))
    events: list[dict[str, Any]] = []
    for name in sc.settings().policyEvents:
        pages = trail.get_paginator("lookup_events").paginate(
            LookupAttributes=[{"AttributeKey": "EventName", "AttributeValue": name}],
            StartTime=start,
            EndTime=end,
        )
        for page in pages:
            events += page.get("Events", [])
    found = sc.policy_changes(events, sc.settings().policyEvents, start, end)
    return sc.Result(check="iam_policy_changes", ran=True, findings=found)


def old_access_keys(now: datetime) -> sc.Result:
    iam = client("iam")
    keys: list[dict[str, Any]] = []
    for page in iam.get_paginator("list_users").paginate():
        for user in page.get("Users", []):
            for kp in iam.get_paginator("list_access_keys").paginate(UserName=user["UserName"]):
                keys += [_aware(k) for k in kp.get("AccessKeyMetadata", [])]
    found = sc.root_keys(iam.get_account_summary()["SummaryMap"])
    found += sc.old_keys(keys, now, sc.settings().maxKeyAgeDays)
    return sc.Result(check="old_access_keys", ran=True, findings=found)


def _aware(key: dict[str, Any]) -> dict[str, Any]:
    at = key["CreateDate"]
    return {**key, "CreateDate": at if at.tzinfo else at.replace(tzinfo=UTC)}


def open_security_groups() -> sc.Result:
    groups: list[dict[str, Any]] = []
    for page in client("ec2").get_paginator("describe_security_groups").paginate():
        groups += page.get("SecurityGroups", [])
    found = sc.open_ingress(groups, sc.settings().expectedOpen)
    return sc.Result(check="open_security_groups", ran=True, findings=found)


def keep_report(incident_id: str, end: datetime, whole: dict[str, Any]) -> str:
    """The whole report (every finding) in the reports bucket: where it is, or why it is
    not there (the page still goes out; it says the whole report was not kept)."""
    key = f"security_checks/{end:%Y/%m/%d}/{incident_id}.json"
    try:
        bucket = settings().bucket("reports")
        client("s3").put_object(
            Bucket=bucket,
            Key=key,
            Body=json.dumps(whole, indent=2, sort_keys=True).encode(),
            ContentType="application/json",
        )
    except ClientError as exc:
        if is_transient(exc):
            raise
        err = exc.response.get("Error", {})
        return bounded(f"not kept ({err.get('Code')}: {err.get('Message', '')})", 300)
    return f"s3://{bucket}/{key}"


def security_logs(start: datetime, end: datetime) -> sc.Result:
    """The configured groups' lines matching the pattern in the window; at most
    `maxLogLines` shown, the rest counted."""
    cfg = sc.settings()
    logs = client("logs")
    found: list[dict[str, Any]] = []
    omitted = 0
    for group in cfg.logGroups:
        pages = logs.get_paginator("filter_log_events").paginate(
            logGroupName=group,
            startTime=int(start.timestamp() * 1000),
            endTime=int(end.timestamp() * 1000),
            filterPattern=cfg.filterPattern,
        )
        for page in pages:
            for event in page.get("events", []):
                if len(found) >= cfg.maxLogLines:
                    omitted += 1
                    continue
                at = datetime.fromtimestamp(event["timestamp"] / 1000, UTC)
                found.append(sc.log_line(group, event, at))
    return sc.Result(check="security_logs", ran=True, findings=found, omitted=omitted)
