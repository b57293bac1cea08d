"""Pure decisions for the 5xx auto-rollback (runbook 001, D1). No I/O here."""

from __future__ import annotations

import hashlib
import re
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

from ..core.errors import InputInvalid
from .incident import Deployment, Diagnosis, FeatureFlags

if TYPE_CHECKING:
    from ..core.alarm_event import AlarmStateChangeEvent

AUTOMATION = "rollback_on_5xx"
COOLDOWN_MINUTES = 30
DEFAULT_ALIAS = "live"
TAG_ALIAS = "selfheal:alias"
TAG_MANAGED = "selfheal:managed"
TAG_APPCONFIG = "selfheal:appconfig"
TAG_FLAGS = "selfheal:flags"
TAG_CODEDEPLOY_APP = "selfheal:codedeploy-app"
TAG_CODEDEPLOY_GROUP = "selfheal:codedeploy-group"
ACTIVE_CODEDEPLOY = ("Created", "Queued", "InProgress", "Ready")

#: The metrics a D1 alarm watches, by namespace, and the dimension that names its target.
LAMBDA_ERRORS = ("AWS/Lambda", "Errors", "FunctionName")
REST_API_5XX = ("AWS/ApiGateway", "5XXError", "ApiName")
HTTP_API_5XX = ("AWS/ApiGateway", "5xx", "ApiId")
#: `ALARM(name)` / `ALARM("name")` in a composite alarm's rule: the children whose ALARM
#: state raises it (OK(...) and INSUFFICIENT_DATA(...) terms never point at a cause).
_ALARM_TERM = re.compile(r"""\bALARM\(\s*(?:"((?:[^"\\]|\\.)*)"|'([^']*)'|([^\s()"']+))\s*\)""")
#: A Lambda integration's URI: `arn:...:apigateway:<region>:lambda:path/2015-03-31/functions/
#: <function ARN>/invocations`; the function ARN may end in `:<alias or version>`.
_LAMBDA_URI = re.compile(
    r"^arn:[^:]+:apigateway:[^:]*:lambda:path/[^/]+/functions/"
    r"arn:[^:]+:lambda:[^:]*:[^:]*:function:(?P<name>[^:/]+)(?::(?P<qualifier>[^/]+))?"
    r"/invocations$"
)
_STAGE_VARIABLE = re.compile(r"\$\{stageVariables\.([A-Za-z0-9_]+)\}")


def incident_id(alarm: AlarmStateChangeEvent) -> str:
    """Same alarm transition → same id, however many times EventBridge delivers it."""
    basis = (
        f"{alarm.account}|{alarm.region}|{alarm.detail.alarmName}|{alarm.detail.state.timestamp}"
    )
    digest = hashlib.sha256(basis.encode()).hexdigest()[:16]
    return f"{AUTOMATION}-{digest}"


def function_name(alarm: AlarmStateChangeEvent) -> str:
    if alarm.detail.state.value != "ALARM":
        raise InputInvalid(
            f"detail.state.value: expected 'ALARM', got {alarm.detail.state.value!r}"
        )
    name = alarm.metric_dimensions().get("FunctionName", "").strip()
    if not name:
        raise InputInvalid(
            "detail.configuration.metrics[].metricStat.metric.dimensions.FunctionName: "
            "missing; cannot tell which function to roll back"
        )
    if any(c in name for c in "*?, "):
        raise InputInvalid(f"dimensions.FunctionName: {name!r} is not one function name")
    return name


def alias_for(alarm: AlarmStateChangeEvent, tags: dict[str, str]) -> str:
    """The alias that serves traffic: the metric's `Resource` dimension (fn:alias), then a tag."""
    resource = alarm.metric_dimensions().get("Resource", "")
    if ":" in resource:
        return resource.split(":", 1)[1]
    return tags.get(TAG_ALIAS, DEFAULT_ALIAS)


def previous_version(
    versions: list[str], current: str, known_bad: frozenset[str] = frozenset()
) -> str | None:
    """The newest published version older than `current`, skipping versions we already
    rolled away from (they were bad once); never $LATEST."""
    numbered = sorted(int(v) for v in versions if v.isdigit() and v not in known_bad)
    if not current.isdigit():
        return None
    older = [v for v in numbered if v < int(current)]
    return str(older[-1]) if older else None


def alias_deployment(
    *,
    current: str,
    versions: list[str],
    changed_at: datetime | None,
    now: datetime,
    recent_hours: int,
    known_bad: frozenset[str] = frozenset(),
) -> Deployment:
    """A recent deployment is the alias moved to `current` within `recent_hours` before
    `now` (`changed_at`, from CloudTrail; None: no such change in the window). The
    version's publish time says nothing: an old version can be made live today."""
    if current == "$LATEST":
        return Deployment(
            kind="none", reason="alias points at $LATEST; nothing published to return to"
        )
    previous = previous_version(versions, current, known_bad)
    if previous is None:
        skipped = f" (skipping known-bad {', '.join(sorted(known_bad))})" if known_bad else ""
        return Deployment(
            kind="none", reason=f"version {current} has no earlier published version{skipped}"
        )
    if changed_at is None:
        return Deployment(
            kind="none",
            reason=f"no change of the alias to version {current} in CloudTrail in the last "
            f"{recent_hours} h; not a recent deployment",
        )
    age = max(now - changed_at, timedelta(0))  # clock skew never makes it negative
    if age > timedelta(hours=recent_hours):
        return Deployment(
            kind="none",
            reason=f"the alias moved to version {current} {age.total_seconds() / 3600:.1f} h "
            f"ago; not a recent deployment (window {recent_hours} h)",
        )
    return Deployment(
        kind="alias",
        fromVersion=current,
        toVersion=previous,
        reason=f"alias moved to version {current} {int(age.total_seconds() // 60)} min ago",
    )


def feature_flags(tags: dict[str, str]) -> FeatureFlags | None:
    """Flags implicated by the function's tags: `selfheal:appconfig` = app/env/profile and
    `selfheal:flags` = space-separated flag keys (tag values cannot hold commas)."""
    location, names = tags.get(TAG_APPCONFIG, ""), tags.get(TAG_FLAGS, "").split()
    if not location or not names:
        return None
    parts = location.split("/")
    if len(parts) != 3 or not all(parts):
        raise InputInvalid(
            f"tag {TAG_APPCONFIG}: expected 'application/environment/profile', got {location!r}"
        )
    return FeatureFlags(application=parts[0], environment=parts[1], profile=parts[2], flags=names)


def disable_flags(document: dict[str, Any], flags: list[str]) -> tuple[dict[str, Any], list[str]]:
    """Turn flags off in an AppConfig feature-flag document; return it and what changed."""
    values = document.setdefault("values", {})
    changed = []
    for name in flags:
        if name not in document.get("flags", {}):
            continue  # not a known flag: nothing to turn off, never invent one
        current = values.setdefault(name, {})
        if current.get("enabled", False):
            current["enabled"] = False
            changed.append(name)
    return document, changed


def diagnose(
    deployment: Deployment, flags: FeatureFlags | None, flags_evidence: str = ""
) -> Diagnosis:
    """`flags` are the implicated flags only (turned on by a recent AppConfig deployment of
    the function's profile, `flag_history`), `flags_evidence` what was found.
    The runbook's order: "Verificar implantações recentes" comes first, so a recent
    deployment is rolled back first; the implicated flags ("problema de configuração") are
    turned off first only without a recent deployment, else only if the rollback does not
    bring the alarm back. Neither: nothing to do but tell people."""
    recent = deployment.kind != "none"
    first: Literal["rollback", "disable_flags", "none"]
    then: Literal["disable_flags", "none"]
    on_deployment = (
        f"recent deployment: {deployment.reason}"
        if recent
        else f"no recent deployment to roll back: {deployment.reason}"
    )
    untagged = f"no {TAG_FLAGS} / {TAG_APPCONFIG} tags"
    on_configuration = (
        f"configuration: flags {' '.join(flags.flags)} implicated ({flags_evidence})"
        if flags
        else f"no configuration implicated: {flags_evidence or untagged}"
    )
    if recent and flags:
        first, then = "rollback", "disable_flags"
        summary = (
            f"roll back first ({deployment.reason}); turn off {' '.join(flags.flags)} "
            "only if the alarm stays in ALARM"
        )
    elif recent:
        first, then = "rollback", "none"
        summary = f"roll back ({deployment.reason}); no flag is implicated"
    elif flags:
        first, then = "disable_flags", "none"
        summary = f"turn off {' '.join(flags.flags)}: {on_deployment}"
    else:
        first, then = "none", "none"
        summary = f"nothing to roll back or turn off: {deployment.reason}; {on_configuration}"
    return Diagnosis(
        first=first,
        then=then,
        deployment=on_deployment,
        configuration=on_configuration,
        summary=summary,
    )


def alarm_rule_children(rule: str) -> list[str]:
    """The alarms a composite's rule raises on (its `ALARM(...)` terms), in order, once each;
    names may be quoted or bare, or be alarm ARNs (the name is the ARN's last part)."""
    names: list[str] = []
    for match in _ALARM_TERM.finditer(rule):
        raw = next(g for g in match.groups() if g is not None)
        name = raw.replace('\\"', '"')
        if name.startswith("arn:") and ":alarm:" in name:
            name = name.split(":alarm:", 1)[1]
        if name and name not in names:
            names.append(name)
    return names


def lambda_of_integration(uri: str, stage_variables: dict[str, str]) -> tuple[str, str | None]:
    """(function name, qualifier) an API Gateway Lambda integration invokes, with the stage's
    variables substituted; InputInvalid when the URI is not a Lambda invocation or names a
    stage variable the stage does not set."""
    missing = [v for v in _STAGE_VARIABLE.findall(uri) if v not in stage_variables]
    if missing:
        raise InputInvalid(
            f"integration uri: stage variable(s) {', '.join(missing)} not set on the stage"
        )
    resolved = _STAGE_VARIABLE.sub(lambda m: stage_variables[m.group(1)], uri)
    match = _LAMBDA_URI.match(resolved)
    if not match:
        raise InputInvalid(f"integration uri: {resolved[:160]!r} does not invoke a Lambda function")
    return match.group("name"), match.group("qualifier")


def d1_metric(namespace: str | None, name: str, dimensions: dict[str, str]) -> str | None:
    """Which kind of D1 alarm a metric makes: `lambda`, `rest_api`, `http_api`, or None."""
    for kind, (ns, metric, key) in (
        ("lambda", LAMBDA_ERRORS),
        ("rest_api", REST_API_5XX),
        ("http_api", HTTP_API_5XX),
    ):
        if namespace == ns and name == metric and dimensions.get(key):
            return kind
    return None
