"""Forced OTA (runbook 000 §2, catalog E2): the request, the per-edge blockers ("Bloqueios
comuns") and the AWS IoT Jobs configuration of the canary, the rollout and the rollback.

Pure logic: the functions read the edge registry and hand the state in here, so every
refusal has a reason that names the edge's own report."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import ConfigDict, Field, field_validator

from ..battery import battery
from ..core import config
from ..core.basemodel import Model
from . import edges

AUTOMATION = "forced_ota"
#: Runbook 000 §2 "Se SOC < 20%, aguardar ou carregar manualmente".
MIN_SOC = 20.0
#: Runbook 000 §2 "Verificar janela de manutenção (padrão 02:00-05:00)", local time.
DEFAULT_WINDOW = (2, 5)
DEFAULT_TIMEZONE = "America/Sao_Paulo"
#: Telemetry older than this says nothing about the edge's operation or SOC now.
FRESH_MINUTES = 10
#: Runbook 000 §2 "Se há alarme crítico ativo, resolver primeiro": the §6 P1 (critical) kinds.
CRITICAL_SEVERITIES = frozenset({"P1"})
#: Every job this automation creates is named `ota-...` (its IAM grant says so).
JOB_PREFIX = "ota-"
TERMINAL = frozenset({"SUCCEEDED", "FAILED", "CANCELED", "TIMED_OUT", "REJECTED", "REMOVED"})
WILDCARDS = ("*", "+", "#", "?")


class OtaRequest(Model):
    """The runbook's request body: `{version, targetEdgeIds, skipCanary, force}`."""

    model_config = ConfigDict(extra="forbid", defer_build=True)

    version: str = Field(pattern=r"^[0-9]+(\.[0-9]+){1,3}([-+][A-Za-z0-9.]{1,32})?$")
    targetEdgeIds: list[str] = Field(min_length=1, max_length=500)
    skipCanary: bool = False
    #: Reinstall on edges that already report `version`. It skips no safety blocker: the
    #: runbook's way around the window is the system's own window setting (`{0, 24}`).
    force: bool = False
    requestedBy: str = Field(default="", max_length=128)

    @field_validator("targetEdgeIds")
    @classmethod
    def _explicit(cls, ids: list[str]) -> list[str]:
        wild = [i for i in ids if any(w in i for w in WILDCARDS) or i.lower() in ("all", "")]
        if wild:
            raise ValueError(f"a wildcard target {wild[0][:40]!r} is never 'all': name each edge")
        bad = [i for i in ids if not re.fullmatch(edges.EDGE_ID, i)]
        if bad:
            raise ValueError(f"not an edge id: {bad[0][:40]!r}")
        if len(set(ids)) != len(ids):
            raise ValueError("an edge is named twice")
        return ids


@dataclass(frozen=True)
class Window:
    """A system's maintenance window in local hours, `[startHour, endHour)`; wraps midnight
    when start > end; `{0, 24}` is the runbook's "janela imediata"."""

    start_hour: int
    end_hour: int
    timezone: str

    def contains(self, now: datetime) -> bool:
        hour = now.astimezone(ZoneInfo(self.timezone)).hour
        if self.start_hour <= self.end_hour:
            return self.start_hour <= hour < self.end_hour
        return hour >= self.start_hour or hour < self.end_hour

    def describe(self) -> str:
        return f"{self.start_hour:02d}:00-{self.end_hour:02d}:00 {self.timezone}"


def window_of(setting: dict[str, Any] | None, timezone: str | None) -> Window:
    """The system's window (the default without a setting). A setting or time zone that
    cannot be read raises ValueError naming it: that edge is refused, never guessed."""
    start, end = DEFAULT_WINDOW
    if setting:
        try:
            start, end = int(setting["startHour"]), int(setting["endHour"])
        except (KeyError, TypeError, ValueError):
            raise ValueError(
                f"maintenance window setting unreadable: {str(setting)[:80]}; "
                "want {startHour: 0-23, endHour: 1-24}"
            ) from None
        if not (0 <= start <= 23 and 1 <= end <= 24 and start != end):
            raise ValueError(f"maintenance window setting {start}-{end}: want 0-23 and 1-24")
    tz = timezone or DEFAULT_TIMEZONE
    try:
        ZoneInfo(tz)
    except (ValueError, KeyError):  # ZoneInfoNotFoundError is a KeyError
        raise ValueError(f"time zone {tz[:60]!r} unknown") from None
    return Window(start, end, tz)


def blockers(
    edge: dict[str, Any],
    *,
    lock: str | None,
    window: Window,
    now: datetime,
) -> list[str]:
    """Why this edge may not be updated now (runbook 000 §2 "Bloqueios comuns"), from its
    own last report; [] when nothing blocks it. An edge whose state is unknown is refused."""
    out: list[str] = []
    if lock:
        out.append(lock)
    alarms = sorted(edges.active_alarms(edge))  # raised on the alarms topic or in a status
    critical = [a for a in alarms if edges.ALARM_SEVERITY.get(a) in CRITICAL_SEVERITIES]
    if critical:
        out.append(f"critical alarm active: {', '.join(critical)}")
    at = str(edge.get("lastTelemetryAt") or "")
    if edge.get("state") in ("offline", "autonomous"):
        out.append(f"edge {edge.get('state')} since {edge.get('since', '?')}")
    elif not at or now - datetime.fromisoformat(at) > timedelta(minutes=FRESH_MINUTES):
        out.append(f"no telemetry in the last {FRESH_MINUTES} min (last {at or 'never'})")
    else:
        power = float(edge.get("powerKw") or 0.0)
        if abs(power) > battery.STOPPED_KW:
            out.append(f"in active operation: {power:g} kW flowing")
        soc = edge.get("soc")
        if soc in (None, ""):
            out.append("no SOC reading")
        elif float(soc) < MIN_SOC:
            out.append(f"SOC {float(soc):g} % < {MIN_SOC:g} %")
    if not window.contains(now):
        local = now.astimezone(ZoneInfo(window.timezone))
        out.append(f"outside the maintenance window {window.describe()} (now {local:%H:%M})")
    return out


def job_id(incident_id: str, stage: str) -> str:
    digest = hashlib.sha256(incident_id.encode()).hexdigest()[:16]
    return f"{JOB_PREFIX}{digest}-{stage}"[:64]


def incident_id(execution_id: str) -> str:
    return f"{AUTOMATION}-{hashlib.sha256(execution_id.encode()).hexdigest()[:12]}"


def _env_int(name: str, default: int, low: int, high: int) -> int:
    return max(low, min(high, int(config.env(name, str(default)))))


def rollout_config() -> dict[str, Any]:
    """`jobExecutionsRolloutConfig`: never fleet-wide at once (DESIGN.md safety rules)."""
    return {"maximumPerMinute": _env_int("SELFHEAL_OTA_MAX_PER_MINUTE", 5, 1, 1000)}


def abort_config() -> dict[str, Any]:
    """`abortConfig`: IoT Jobs cancels the rest of the rollout once this share of the edges
    that finished failed (after at least `minNumberOfExecutedThings`)."""
    percent = float(config.env("SELFHEAL_OTA_ABORT_FAILED_PERCENT", "20"))
    return {
        "criteriaList": [
            {
                "failureType": "FAILED",
                "action": "CANCEL",
                "thresholdPercentage": max(0.0, min(100.0, percent)),
                "minNumberOfExecutedThings": _env_int(
                    "SELFHEAL_OTA_ABORT_MIN_EXECUTED", 2, 1, 1000
                ),
            }
        ]
    }


def document(version: str) -> dict[str, Any]:
    """The job document the edge agent runs."""
    return {"operation": "ota", "version": version}
