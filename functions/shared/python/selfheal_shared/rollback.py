"""Pure decisions for the 5xx auto-rollback (runbook 001, D1). No I/O here."""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from .errors import InputInvalid
from .models import Deployment, FeatureFlags

if TYPE_CHECKING:
    from .alarm_event import AlarmStateChangeEvent

AUTOMATION = "rollback_on_5xx"
COOLDOWN_MINUTES = 30
DEFAULT_ALIAS = "live"
TAG_ALIAS = "selfheal:alias"
TAG_APPCONFIG = "selfheal:appconfig"
TAG_FLAGS = "selfheal:flags"
TAG_CODEDEPLOY_APP = "selfheal:codedeploy-app"
TAG_CODEDEPLOY_GROUP = "selfheal:codedeploy-group"
ACTIVE_CODEDEPLOY = ("Created", "Queued", "InProgress", "Ready")


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
    published_at: datetime,
    now: datetime,
    recent_hours: int,
    known_bad: frozenset[str] = frozenset(),
) -> Deployment:
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
    age = max(now - published_at, timedelta(0))  # clock skew never makes it negative
    if age > timedelta(hours=recent_hours):
        return Deployment(
            kind="none",
            reason=f"version {current} went live {age.total_seconds() / 3600:.1f} h ago; "
            f"not a recent deployment (window {recent_hours} h)",
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
