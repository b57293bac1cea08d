"""The daily security checks of runbook 001 ("Verificações Diárias de Segurança"): what each
check finds, decided from what AWS answered, and the report for the security contact.

Pure logic: the reads are in `security_sources.py`. The checks REPORT; nothing here (or
there) changes a key, a group or a policy. A check that could not run is said to have not
run, never folded into "nothing found".
"""

from __future__ import annotations

import ipaddress
import json
import os
from datetime import datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from ..core import redact
from ..core.outcomes import Outcome

AUTOMATION = "security_checks"
#: The escalation policy whose security contact gets the report (runbook 001).
SYSTEM = "ons-data-platform"
#: The level of that policy behind "Incidentes de Segurança" (runbook 001, Contatos).
SECURITY_LEVEL = "security"
#: Who else hears when a check could not run: the platform's operations (L1) fix access.
NOT_RUN_LEVELS = ("security", "l1")
CONFIG = Path(__file__).with_name("security_checks.json")
#: The widest prefix that is not "open to the internet": a public IPv4 /8 (16.7 million
#: addresses) or IPv6 /16, or anything wider, counts as open; so 0.0.0.0/1 + 128.0.0.0/1
#: (the whole internet split in two) is reported. Private ranges (10.0.0.0/8) are not.
OPEN_PREFIX = {4: 8, 6: 16}
PRIVATE = tuple(
    ipaddress.ip_network(n)
    for n in (
        "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "127.0.0.0/8",
        "169.254.0.0/16", "fc00::/7", "fe80::/10",
    )
)  # fmt: skip

Check = Literal["iam_policy_changes", "old_access_keys", "open_security_groups", "security_logs"]
CHECKS: tuple[Check, ...] = (
    "iam_policy_changes",
    "old_access_keys",
    "open_security_groups",
    "security_logs",
)
TITLES: dict[str, str] = {
    "iam_policy_changes": "IAM policy changes (CloudTrail)",
    "old_access_keys": "access keys older than {days} days or of the root user",
    # Security groups are regional: the scan reads the region it runs in, and says so.
    "open_security_groups": (
        "security groups open to the internet (a public /8 or wider) in {region}"
    ),
    "security_logs": "SECURITY log lines",
}
#: Where CloudTrail's event history keeps IAM's (global) events, by partition.
IAM_EVENTS_REGIONS = {"aws": "us-east-1", "aws-cn": "cn-north-1", "aws-us-gov": "us-gov-west-1"}


class ExpectedOpen(BaseModel):
    """An inbound rule open to the internet on purpose (a public load balancer on 443): still
    listed in the report, never escalated on its own. `why` is said beside it."""

    model_config = ConfigDict(extra="forbid")

    groupName: str = Field(min_length=1)
    ports: str = Field(min_length=1)  # as the report writes them: "443", "80-81", "all"
    why: str = Field(min_length=5)


class Settings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    why: str = Field(min_length=20)
    windowHours: int = Field(gt=0, le=24 * 7)
    #: The window ends this long before the scheduled time: CloudTrail's event history and
    #: CloudWatch Logs deliver minutes late, and the next window starts where this one ends.
    lagMinutes: int = Field(ge=0, le=120)
    maxKeyAgeDays: int = Field(gt=0)
    logGroups: list[str] = Field(min_length=1)
    filterPattern: str = Field(min_length=1)
    maxLogLines: int = Field(gt=0, le=1000)
    #: Findings a check shows in the page (the rest counted): the page stays under Step
    #: Functions' and SNS's 256 KB; the whole report is kept in the reports bucket.
    maxFindings: int = Field(gt=0, le=100)
    policyEvents: list[str] = Field(min_length=1)
    #: Rules open to the internet that the platform's owners expect (reported, not escalated).
    expectedOpen: list[ExpectedOpen] = Field(default_factory=list)


@cache
def settings() -> Settings:
    return Settings.model_validate(json.loads(CONFIG.read_text()))


class Result(BaseModel):
    """One check: whether it ran, what it found (never a secret), and why it did not run."""

    check: Check
    ran: bool
    findings: list[dict[str, Any]] = Field(default_factory=list)
    error: str = ""
    #: Findings left out of the list (more than the report shows); counted, not hidden.
    omitted: int = 0

    @property
    def found(self) -> int:
        return len(self.findings) + self.omitted


def capped(result: Result, limit: int) -> Result:
    """`result` showing at most `limit` findings, the rest counted in `omitted`."""
    extra = max(len(result.findings) - limit, 0)
    return result.model_copy(
        update={"findings": result.findings[:limit], "omitted": result.omitted + extra}
    )


def not_run(check: Check, error: str) -> Result:
    return Result(check=check, ran=False, error=error)


def masked_key(access_key_id: str) -> str:
    """`AKIA…WXYZ`: enough to find the key in the console, never the whole id."""
    return f"{access_key_id[:4]}…{access_key_id[-4:]}" if len(access_key_id) > 8 else "…"


def policy_changes(
    events: list[dict[str, Any]], names: list[str], start: datetime, end: datetime
) -> list[dict[str, Any]]:
    """CloudTrail events (LookupEvents' shape) that changed, or tried to change, an IAM
    policy inside the window, oldest first, each event once. A call IAM refused (the event's
    errorCode) is an attempt, said as refused, never a change. The window is checked here
    too: the lookup's bounds are the API's."""
    out = []
    seen: set[str] = set()
    for e in events:
        if e.get("EventId") and e["EventId"] in seen:
            continue
        seen.add(str(e.get("EventId", "")))
        at = _event_time(e)
        if e.get("EventName") not in names or not start <= at <= end:
            continue
        detail = json.loads(e.get("CloudTrailEvent") or "{}")
        params = detail.get("requestParameters") or {}
        out.append(
            {
                "at": at.isoformat(),
                "event": e["EventName"],
                "by": e.get("Username") or detail.get("userIdentity", {}).get("arn", "unknown"),
                "target": _target(params),
                "policy": params.get("policyArn") or params.get("policyName") or "",
                "eventId": e.get("EventId", ""),
                "refused": str(detail.get("errorCode") or ""),
            }
        )
    return sorted(out, key=lambda f: f["at"])


def _event_time(event: dict[str, Any]) -> datetime:
    at = event["EventTime"]
    return at if isinstance(at, datetime) else datetime.fromisoformat(str(at))


def _target(params: dict[str, Any]) -> str:
    for key, kind in (("roleName", "role"), ("userName", "user"), ("groupName", "group")):
        if params.get(key):
            return f"{kind} {params[key]}"
    return str(params.get("policyArn") or params.get("policyName") or "")


def old_keys(keys: list[dict[str, Any]], now: datetime, max_age_days: int) -> list[dict[str, Any]]:
    """Access keys (ListAccessKeys' metadata) older than `max_age_days`, the id masked."""
    out = []
    for k in keys:
        age = now - k["CreateDate"]
        if age > timedelta(days=max_age_days):
            out.append(
                {
                    "user": k["UserName"],
                    "accessKey": masked_key(str(k["AccessKeyId"])),
                    "status": k.get("Status", ""),
                    "createdAt": k["CreateDate"].isoformat(),
                    "ageDays": age.days,
                }
            )
    return sorted(out, key=lambda f: (-f["ageDays"], f["user"]))


def open_ingress(
    groups: list[dict[str, Any]], expected: list[ExpectedOpen] | None = None
) -> list[dict[str, Any]]:
    """Inbound rules (DescribeSecurityGroups' shape) that admit the whole internet; one the
    configuration expects carries its `expected` reason (listed, not escalated)."""
    allowed = {(e.groupName, e.ports): e.why for e in expected or []}
    out = []
    for g in groups:
        for perm in g.get("IpPermissions", []):
            cidrs = [r.get("CidrIp") for r in perm.get("IpRanges", [])]
            cidrs += [r.get("CidrIpv6") for r in perm.get("Ipv6Ranges", [])]
            for cidr in (c for c in cidrs if c and is_open(c)):
                out.append(
                    {
                        "groupId": g["GroupId"],
                        "groupName": g.get("GroupName", ""),
                        "vpcId": g.get("VpcId", ""),
                        "protocol": str(perm.get("IpProtocol", "")),
                        "ports": _ports(perm),
                        "source": cidr,
                        "expected": allowed.get((g.get("GroupName", ""), _ports(perm)), ""),
                    }
                )
    return out


def is_open(cidr: str) -> bool:
    """A public range of `OPEN_PREFIX` or wider: the internet, or a large part of it."""
    try:
        net = ipaddress.ip_network(cidr, strict=False)
    except ValueError:
        return False
    private = any(
        net.version == p.version and net.subnet_of(p)  # type: ignore[arg-type]
        for p in PRIVATE
    )
    return net.prefixlen <= OPEN_PREFIX[net.version] and not private


def unexpected(result: Result) -> int:
    """Findings that call for people: all of them but the expected open rules (counted
    among the shown ones and the omitted alike)."""
    return result.found - sum(1 for f in result.findings if f.get("expected"))


def _ports(perm: dict[str, Any]) -> str:
    if str(perm.get("IpProtocol")) == "-1":
        return "all"
    lo, hi = perm.get("FromPort"), perm.get("ToPort")
    return str(lo) if lo == hi else f"{lo}-{hi}"


def log_line(group: str, event: dict[str, Any], at: datetime) -> dict[str, Any]:
    """A SECURITY line as the report shows it: redacted (a token in the line stays out of
    the mail) and bounded."""
    return {
        "logGroup": group,
        "at": at.isoformat(),
        "message": redact.text(str(event.get("message", "")).strip())[:300],
    }


def outcome(results: list[Result]) -> Outcome:
    """FAILED when a check did not run (its part is unknown, never "nothing found");
    ESCALATED when something was found (handed to the security contact); else
    NO_ACTION_NEEDED."""
    if any(not r.ran for r in results):
        return Outcome.FAILED
    if any(unexpected(r) for r in results):
        return Outcome.ESCALATED
    return Outcome.NO_ACTION_NEEDED


def region() -> str:
    """The region this runs in (Lambda sets AWS_REGION)."""
    return os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "?"


def iam_events_region(in_region: str) -> str:
    """The region whose event history holds IAM's events for the partition of `in_region`:
    IAM is global per partition, its events land in that partition's first region."""
    if in_region.startswith("cn-"):
        return IAM_EVENTS_REGIONS["aws-cn"]
    if in_region.startswith("us-gov-"):
        return IAM_EVENTS_REGIONS["aws-us-gov"]
    return IAM_EVENTS_REGIONS["aws"]


def root_keys(summary: dict[str, Any]) -> list[dict[str, Any]]:
    """GetAccountSummary's `AccountAccessKeysPresent`: the root user has an access key, of
    any age (AWS advises none; ListAccessKeys of a user never shows it)."""
    if not summary.get("AccountAccessKeysPresent"):
        return []
    return [{"user": "root", "rootKey": True}]


def title(check: str) -> str:
    return TITLES[check].format(days=settings().maxKeyAgeDays, region=region())


def line(f: dict[str, Any], check: str) -> str:
    if check == "iam_policy_changes":
        said = f"{f['at']} {f['event']} on {f['target']} {f['policy']} by {f['by']}"
        if f.get("refused"):
            said += f": attempted, refused ({f['refused']}); nothing changed"
        return said
    if check == "old_access_keys" and f.get("rootKey"):
        return "the root user has an access key (AWS advises none): remove it"
    if check == "old_access_keys":
        return f"{f['user']} key {f['accessKey']} ({f['status']}) {f['ageDays']} days old"
    if check == "open_security_groups":
        said = (
            f"{f['groupId']} ({f['groupName']}) {f['protocol']} port {f['ports']} "
            f"open to {f['source']}"
        )
        return said + (f" (expected: {f['expected']})" if f.get("expected") else "")
    return f"{f['at']} {f['logGroup']}: {f['message']}"


def report(
    results: list[Result],
    start: datetime,
    end: datetime,
    switches: list[str],
    full_report: str = "",
    *,
    limit: int | None = None,
) -> dict[str, Any]:
    """The report for the security contact: per check, ran or not and what it found (at
    most `maxFindings` shown, the rest counted); a summary line; the readable text (once:
    the page carries it as its reason or summary). `switches`: the operators' kill switch /
    dry-run, said because they hold every ACTION of selfheal and this report takes none.
    `full_report`: where the whole report was kept, or why it was not. `limit`: findings
    shown per check (`maxFindings`; the kept whole report passes no cap)."""
    shown = [capped(r, settings().maxFindings if limit is None else limit) for r in results]
    result = outcome(results)
    found = sum(unexpected(r) for r in results if r.ran)
    expected = sum(r.found - unexpected(r) for r in results if r.ran)
    missing = [r.check for r in results if not r.ran]
    if missing:
        summary = (
            f"{len(missing)} check(s) did not run ({', '.join(missing)}): their part is "
            f"unknown, not clean; {found} finding(s) in the others"
        )
    elif found:
        counts = ", ".join(f"{title(r.check)}: {unexpected(r)}" for r in results if unexpected(r))
        summary = f"{found} finding(s) ({counts})"
    else:
        nothing = "nothing unexpected found" if expected else "nothing found"
        summary = f"{nothing} in the last {_hours(start, end)} h: every check ran"
    if expected and not missing:
        summary += f"; {expected} expected open rule(s) listed, not escalated"
    text = [f"Security checks {start.isoformat()} to {end.isoformat()}: {summary}"]
    for r in shown:
        head = f"- {title(r.check)}: "
        if not r.ran:
            text.append(head + f"DID NOT RUN ({r.error})")
            continue
        text.append(head + (f"{r.found}" if r.found else "none"))
        text += [f"    {line(f, r.check)}" for f in r.findings]
        if r.omitted:
            text.append(f"    ... and {r.omitted} more (not shown here)")
    if full_report:
        text.append(f"Full report: {full_report}")
    text += [f"Note: {s}; this report only reads and ran anyway." for s in switches]
    text.append("Nothing was deleted or changed by these checks.")
    return {
        "outcome": result.value,
        "summary": summary,
        "window": {"start": start.isoformat(), "end": end.isoformat()},
        "checks": {r.check: r.model_dump(exclude={"check"}) for r in shown},
        "notRun": missing,
        "switches": switches,
        "fullReport": full_report,
        "text": "\n".join(text),
    }


def _hours(start: datetime, end: datetime) -> int:
    return round((end - start).total_seconds() / 3600)
