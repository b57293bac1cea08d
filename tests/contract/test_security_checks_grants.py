"""The security checks read the log groups their configuration names
(`security_checks.json` logGroups) with `logs:FilterLogEvents`: the scan's grant must cover
every one, or a group added to the configuration alone is refused in AWS (AccessDenied: the
check reported as not run) while it may pass wherever the grant is not enforced."""

from __future__ import annotations

import json
import re

from selfheal_cdk import spec as spec_mod
from selfheal_shared.platform import security_checks as sc

FUNCTION = spec_mod.ROOT / "functions" / "platform" / "security_checks_scan" / "function.json"


def _covers(resource: str, group: str) -> bool:
    """Whether an IAM resource pattern (`${...}` placeholders, `*` wildcards) matches the
    ARN of `group`'s log streams, which FilterLogEvents is authorized on."""
    arn = f"arn:aws:logs:us-east-1:123456789012:log-group:{group}:*"
    pattern = re.sub(r"\\\$\\\{[A-Za-z:]+\\\}", "[^:]+", re.escape(resource))
    return re.fullmatch(pattern.replace(r"\*", ".*"), arn) is not None


def test_the_filter_log_events_grant_covers_every_configured_log_group() -> None:
    permissions = json.loads(FUNCTION.read_text())["permissions"]
    resources = [
        r for p in permissions if "logs:FilterLogEvents" in p["actions"] for r in p["resources"]
    ]
    assert resources
    for group in sc.settings().logGroups:
        assert any(_covers(r, group) for r in resources), f"{group} not granted: {resources}"


def test_a_group_outside_the_grant_is_caught() -> None:
    """The check itself can fail: a group the grant does not name is not covered."""
    resource = "arn:${AWS::Partition}:logs:${AWS::Region}:${AWS::AccountId}:log-group:/a:*"
    assert _covers(resource, "/a") and not _covers(resource, "/aws/lambda/other")
