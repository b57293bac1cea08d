"""Pure logic of the data platform's procedures: freezing ingestion on suspected data
corruption (runbook 001 "Prevenção de Perda de Dados", D3/B4) and listing silent sources
on partial data (runbook 004 "Dados Parciais/Incompletos", M3). No I/O here."""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, date, datetime, timedelta
from statistics import mean
from typing import TYPE_CHECKING, Any, Literal

from pydantic import ConfigDict, Field

from ..core.basemodel import Model
from .records import UNVERIFIED

if TYPE_CHECKING:
    from ..core.alarm_event import AlarmStateChangeEvent
    from ..core.approvals import Decision

AUTOMATION = "freeze_ingestion"
PARTIAL_DATA = "partial_data"
#: On EventBridge rules, Step Functions state machines and Lambda functions (their
#: event source mappings): the ingestion scope they belong to.
TAG_SCOPE = "selfheal:ingestion"
#: On S3 buckets of a scope: "processed" (snapshotted) or "backup" (receives the snapshot).
TAG_BUCKET = "selfheal:ingestion-bucket"
SCOPE_DIMENSION = "IngestionScope"
SCOPE_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
#: Processed objects are keyed `<source>/<YYYY>/<MM>/<DD>/<HH>/<file>` (UTC; the hour
#: folders Firehose writes): the hour is the finest time the layout gives.
KEY_PATTERN = re.compile(r"^(?P<source>[^/]+)/(?P<y>\d{4})/(?P<m>\d{2})/(?P<d>\d{2})/(?P<h>\d{2})/")
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)


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


class PartialDataIncident(FreezeIncident):
    """A partial-data incident (runbook 004 M3): also when it began, the alarm's state
    change (not when the workflow ran), which its escalation ladder counts from."""

    startedAt: str = Field(min_length=1)


def unacknowledged(decision: Decision, integrity: dict[str, Any]) -> list[str]:
    """Sources the integrity check flagged that a resume does not acknowledge, and
    `UNVERIFIED` when the check could not count the records at all."""
    if decision.decision != "resume":
        return []
    flagged = [str(s) for s in integrity.get("suspicious") or []]
    if integrity.get("verified") is False:  # nothing counted: resuming is a human's risk
        flagged.append(UNVERIFIED)
    return [s for s in flagged if s not in decision.acknowledge]


def describe_mapping(mapping: dict[str, Any]) -> str:
    """An event source mapping by what it connects (its UUID stays in the record's inverse:
    a random id in the text would make every timeline differ)."""
    source = str(mapping.get("source", "")).rsplit(":", 1)[-1]
    return f"mapping {source} -> {mapping.get('function')}"


def incident_from_alarm(
    alarm: AlarmStateChangeEvent, execution_id: str, automation: str = AUTOMATION
) -> FreezeIncident:
    """The incident of a data-quality alarm, for `automation` (freeze or partial data)."""
    scope = alarm.metric_dimensions().get(SCOPE_DIMENSION, "")
    basis = (
        f"{alarm.account}|{alarm.region}|{alarm.detail.alarmName}|{alarm.detail.state.timestamp}"
    )
    return FreezeIncident(
        incidentId=f"{automation}-{hashlib.sha256(basis.encode()).hexdigest()[:16]}",
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


def hour_of(when: datetime) -> datetime:
    """The start of the UTC hour folder `when` falls in."""
    return when.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def hourly_counts(keys: list[str]) -> dict[str, dict[datetime, int]]:
    """Objects per source per UTC hour folder, from the processed-bucket key layout.
    Keys outside the layout are not counted (`unplaced` says how many)."""
    out: dict[str, dict[datetime, int]] = {}
    for key in keys:
        m = KEY_PATTERN.match(key)
        if not m:
            continue
        try:
            hour = datetime(int(m["y"]), int(m["m"]), int(m["d"]), int(m["h"]), tzinfo=UTC)
        except ValueError:  # 2026/13/45/99: not a date, not ours to count
            continue
        per_hour = out.setdefault(m["source"], {})
        per_hour[hour] = per_hour.get(hour, 0) + 1
    return out


def unplaced(keys: list[str]) -> int:
    return sum(1 for k in keys if not KEY_PATTERN.match(k))


def days_to_list(now: datetime, history_days: int) -> list[date]:
    """The day folders that hold the window and its history (a rolling window spans two)."""
    end = hour_of(now)
    first = (end - DAY * (history_days + 1)).date()
    return [first + timedelta(days=n) for n in range((end.date() - first).days + 1)]


def _window(per_hour: dict[datetime, int], end: datetime) -> int:
    return sum(n for hour, n in per_hour.items() if end - DAY <= hour < end)


def integrity_report(
    counts: dict[str, list[int]],
    spans: list[tuple[datetime, datetime]],
    *,
    low: float = 0.5,
    high: float = 2.0,
) -> dict[str, Any]:
    """Records per source over the last 24 h, rolling (runbook 001: `range(start: -24h)`),
    against the same 24 h on each of the previous days: `counts[source][0]` is the last
    24 h (`spans[0]`), the rest the days before. Never the calendar day: at 02:00 today
    holds two hours and every healthy source would look 90 % short.

    A source is suspicious when its count is under `low` or over `high` times the mean of
    those days; a new source (no history) has nothing to compare with.
    """
    sources = []
    for source in sorted(counts):
        current, *history = counts[source]
        baseline = mean(history) if history else 0
        ratio = (current / baseline) if baseline else None
        suspicious = ratio is not None and not (low <= ratio <= high)
        sources.append(
            {
                "source": source,
                "last24h": current,
                "baseline": round(baseline, 2),
                "ratio": None if ratio is None else round(ratio, 3),
                "suspicious": suspicious,
            }
        )
    start, end = spans[0]
    return {
        "window": {"start": start.isoformat(), "end": end.isoformat()},
        "historyDays": len(spans) - 1,
        "sources": sources,
        "suspicious": [s["source"] for s in sources if s["suspicious"]],
    }


def integrity_lines(integrity: dict[str, Any]) -> list[str]:
    """The integrity check as the people at the gate read it: what was counted, and each
    source's last 24 h against its usual, a suspicious one marked; or that nothing was."""
    if integrity.get("verified") is False:
        return [f"NOT VERIFIED: no records were counted ({integrity.get('problem')})"]
    window = integrity.get("window", {})
    lines = [f"{integrity.get('counted')}, {window.get('start')} to {window.get('end')}:"]
    for s in integrity.get("sources", []):
        mark = "  SUSPICIOUS" if s.get("suspicious") else ""
        lines.append(
            f"{s['source']}: {s['last24h']} in the last 24 h, usual {s['baseline']} "
            f"({s['ratio']}x){mark}"
        )
    return lines


def silence_report(
    counts: dict[str, dict[datetime, int]], now: datetime, *, history_days: int = 7
) -> dict[str, Any]:
    """Which sources went silent (runbook 004 "Verificar quais equipamentos estão enviando
    dados": nothing in the last hour). Expected sources are those with records in the
    previous `history_days` days. A source is silent when its last hour folder with a
    record ended at least 1 h ago and at least twice its usual gap between records ago: a
    source that reports every 4 h is not silent after 1 h; one that reports every few
    seconds is, as the runbook says."""
    end = hour_of(now)
    silent: list[dict[str, Any]] = []
    sending: list[dict[str, Any]] = []
    for source in sorted(counts):
        per_hour = counts[source]
        baseline = mean(_window(per_hour, end - DAY * n) for n in range(1, history_days + 1))
        if not baseline:
            continue  # a new source: nobody expects it yet
        seen = [hour for hour, n in per_hour.items() if n and hour <= end]
        last = max(seen) + HOUR if seen else end - DAY * (history_days + 1)
        quiet = max(now - last, timedelta(0))
        gap = DAY / baseline
        entry = {
            "source": source,
            "lastRecordBefore": last.isoformat(),
            "silentForHours": round(quiet / HOUR, 1),
            "usualGapHours": round(gap / HOUR, 2),
        }
        (silent if quiet >= max(HOUR, 2 * gap) else sending).append(entry)
    expected = len(silent) + len(sending)
    return {
        "at": now.isoformat(),
        "expected": expected,
        "silent": silent,
        "sending": [s["source"] for s in sending],
        "silentCount": len(silent),
        "coveragePercent": round(100 * len(sending) / expected, 1) if expected else None,
    }
