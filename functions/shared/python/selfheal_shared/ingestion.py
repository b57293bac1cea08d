"""Pure logic for freezing ingestion on suspected data corruption (runbook 001
"Prevenção de Perda de Dados", D3/B4/M3). No I/O here."""

from __future__ import annotations

import hashlib
import re
from datetime import date, timedelta
from statistics import mean
from typing import TYPE_CHECKING, Any, Literal

from pydantic import ConfigDict, Field

from .basemodel import Model

if TYPE_CHECKING:
    from .alarm_event import AlarmStateChangeEvent

AUTOMATION = "freeze_ingestion"
#: On EventBridge rules, Step Functions state machines and Lambda functions (their
#: event source mappings): the ingestion scope they belong to.
TAG_SCOPE = "selfheal:ingestion"
#: On S3 buckets of a scope: "processed" (snapshotted) or "backup" (receives the snapshot).
TAG_BUCKET = "selfheal:ingestion-bucket"
SCOPE_DIMENSION = "IngestionScope"
SCOPE_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
#: Processed objects are keyed `<source>/<YYYY>/<MM>/<DD>/<file>`.
KEY_PATTERN = re.compile(r"^(?P<source>[^/]+)/(?P<y>\d{4})/(?P<m>\d{2})/(?P<d>\d{2})/")


class ManualFreeze(Model):
    """What an operator passes when starting `freeze_ingestion` from the console."""

    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=3, max_length=500)
    scope: str = Field(pattern=SCOPE_PATTERN)
    requestedBy: str = Field(min_length=1, max_length=128)


class FreezeIncident(Model):
    model_config = ConfigDict(extra="forbid")

    incidentId: str
    executionId: str
    scope: str = Field(pattern=SCOPE_PATTERN)
    reason: str
    requestedBy: str
    trigger: Literal["alarm", "manual"]


class Decision(Model):
    """The operator's answer at the human gate."""

    model_config = ConfigDict(extra="forbid")

    decision: Literal["resume", "keep_frozen"]
    operator: str = Field(min_length=1, max_length=128)
    reason: str = Field(default="", max_length=500)


def describe_mapping(mapping: dict[str, Any]) -> str:
    """An event source mapping by what it connects (its UUID stays in the record's inverse:
    a random id in the text would make every timeline differ)."""
    source = str(mapping.get("source", "")).rsplit(":", 1)[-1]
    return f"mapping {source} -> {mapping.get('function')}"


def incident_from_alarm(alarm: AlarmStateChangeEvent, execution_id: str) -> FreezeIncident:
    scope = alarm.metric_dimensions().get(SCOPE_DIMENSION, "")
    basis = (
        f"{alarm.account}|{alarm.region}|{alarm.detail.alarmName}|{alarm.detail.state.timestamp}"
    )
    return FreezeIncident(
        incidentId=f"{AUTOMATION}-{hashlib.sha256(basis.encode()).hexdigest()[:16]}",
        executionId=execution_id,
        scope=scope,
        reason=f"alarm {alarm.detail.alarmName}: {alarm.detail.state.reason}"[:500],
        requestedBy=f"cloudwatch:{alarm.detail.alarmName}",
        trigger="alarm",
    )


def incident_from_manual(request: ManualFreeze, execution_id: str) -> FreezeIncident:
    name = execution_id.rsplit(":", 1)[-1]
    return FreezeIncident(
        incidentId=f"{AUTOMATION}-{request.scope}-{name}",
        executionId=execution_id,
        scope=request.scope,
        reason=request.reason,
        requestedBy=request.requestedBy,
        trigger="manual",
    )


def snapshot_prefix(scope: str, incident_id: str, day: date) -> str:
    return f"{scope}/{day:%Y%m%d}/{incident_id}/"


def daily_counts(keys: list[str]) -> dict[str, dict[date, int]]:
    """Objects per source per day, from the processed-bucket key layout."""
    out: dict[str, dict[date, int]] = {}
    for key in keys:
        m = KEY_PATTERN.match(key)
        if not m:
            continue
        day = date(int(m["y"]), int(m["m"]), int(m["d"]))
        per_day = out.setdefault(m["source"], {})
        per_day[day] = per_day.get(day, 0) + 1
    return out


def integrity_report(
    counts: dict[str, dict[date, int]],
    today: date,
    *,
    history_days: int = 7,
    low: float = 0.5,
    high: float = 2.0,
) -> dict[str, Any]:
    """Records of the last day per source against the mean of the days before.

    A source is suspicious when its last-day count is under `low` or over `high`
    times its baseline, or when it has a baseline and no records at all today.
    """
    sources = []
    for source in sorted(counts):
        per_day = counts[source]
        history = [per_day.get(today - timedelta(days=n), 0) for n in range(1, history_days + 1)]
        baseline = mean(history)
        current = per_day.get(today, 0)
        ratio = (current / baseline) if baseline else None
        suspicious = bool(baseline) and (ratio is not None and not (low <= ratio <= high))
        if not baseline and current:
            suspicious = False  # a new source: nothing to compare with
        sources.append(
            {
                "source": source,
                "last24h": current,
                "baseline": round(baseline, 2),
                "ratio": None if ratio is None else round(ratio, 3),
                "suspicious": suspicious,
            }
        )
    return {
        "day": today.isoformat(),
        "historyDays": history_days,
        "sources": sources,
        "suspicious": [s["source"] for s in sources if s["suspicious"]],
    }
