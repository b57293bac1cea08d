"""The planned maintenance window of the ONS data platform (runbook 001 "Janelas de
Manutenção", catalog row D7), as pure logic: the window a start asks for, the notice's
truthful text, the flag document edit.

One calendar: the window is the guard table's `maintenance#system:ons-data-platform` record
(`guards.plan_maintenance`), which every ONS-platform workflow's guard step reads through
`scopes` (SCOPE). The window's own flag change is not held by it (its guard calls pass no
system scope); the kill switch and dry-run hold it like any action.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field

from ..core.errors import InputInvalid

AUTOMATION = "maintenance_window"
SYSTEM = "ons-data-platform"
#: The calendar scope every ONS-platform workflow passes to its guard step.
SCOPE = f"system:{SYSTEM}"


def calendar_scopes(_request: object) -> tuple[str, ...]:
    """The `scopes=` of every runbook-001 acting remediator: `Run.act` checks the guards
    again right before each effect, so an execution that passed its guard step before a
    window opened is still held by it (tests/contract/test_maintenance_calendar.py)."""
    return (SCOPE,)


#: Runbook 001 "Pré-manutenção (30 minutos antes)".
NOTICE_MINUTES = 30
#: After the flag is off, the platform serves again for this long before the health check
#: reads its functions' Errors (a check at the very instant would see no traffic at all).
SETTLE_MINUTES = 5
#: Where the deployment registers the window's configuration (`MaintenanceConfig`).
PARAMETER = "/selfheal/platform/maintenance-window"
BRT = ZoneInfo("America/Sao_Paulo")
#: The longest window (issue 24's design; the runbook gives none): 12 hours; a longer one
#: is a change to plan, not a window.
MAX_MINUTES = 720
#: The shortest window: the deployment turning the mode on bakes for 10 minutes
#: (AppConfig.AllAtOnce's FinalBakeTimeInMinutes), and AppConfig refuses the one turning it
#: off while that bake runs (ConflictException); 15 leaves a margin.
MIN_MINUTES = 15
#: How far ahead a window may be planned: the workflow waits for it (its execution's
#: timeout is 8.5 days), and a window weeks away is a change request, not an execution.
MAX_AHEAD_DAYS = 7


class AppConfigTarget(BaseModel):
    application: str = Field(min_length=1)
    environment: str = Field(min_length=1)
    profile: str = Field(min_length=1)
    strategy: str = Field(default="AppConfig.AllAtOnce", min_length=1)


class MaintenanceConfig(BaseModel):
    """What the deployment registers under PARAMETER: configuration, never guessed."""

    model_config = ConfigDict(extra="forbid")

    appconfig: AppConfigTarget
    flag: str = Field(default="enable_maintenance_mode", min_length=1)
    #: The functions the runbook's post-maintenance health check lists.
    healthFunctions: list[str] = Field(min_length=1, max_length=20)
    #: The `selfheal:ingestion` tag of the processed and backup buckets.
    ingestionScope: str = Field(min_length=1)


class ScheduledStart(BaseModel):
    """What `events/schedules/maintenance_window_weekly.json` passes: the schedule fires
    `leadMinutes` before the window."""

    model_config = ConfigDict(extra="forbid")

    trigger: Literal["schedule"]
    scheduledTime: str = Field(min_length=1)
    leadMinutes: int = Field(ge=0, le=24 * 60)
    durationMinutes: int = Field(ge=MIN_MINUTES, le=MAX_MINUTES)
    reason: str = Field(min_length=1, max_length=500)


class Window(BaseModel):
    """The maintenance window's incident: what every step of the workflow carries."""

    incidentId: str
    executionId: str
    trigger: Literal["schedule", "manual"]
    requestedBy: str
    reason: str
    durationMinutes: int
    startsAt: str
    endsAt: str
    noticeAt: str


def _utc(at: datetime) -> str:
    """Step Functions' Wait `TimestampPath` form: RFC 3339, UTC, `Z`."""
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_start(text: str, field: str) -> datetime:
    """An ISO 8601 time with its offset; `InputInvalid` naming `field` otherwise."""
    try:
        at = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise InputInvalid(f"{field}: {text[:40]!r} is not an ISO 8601 time") from None
    if at.tzinfo is None:
        raise InputInvalid(f"{field}: {text[:40]!r} has no UTC offset (say which time zone)")
    return at


def window(
    start: datetime,
    minutes: int,
    *,
    now: datetime,
    trigger: Literal["schedule", "manual"],
    requested_by: str,
    reason: str,
    execution_id: str,
    field: str = "start",
) -> Window:
    """The window from `start` for `minutes`; a start already past is refused (nobody would
    have been told). Its id is the window itself, so a second start of the same window is
    the same incident (its actions found on the record, never repeated)."""
    if start <= now:
        raise InputInvalid(
            f"{field}: {start.isoformat()} is in the past (now {now.isoformat()}); "
            "a maintenance window is planned ahead"
        )
    if start - now > timedelta(days=MAX_AHEAD_DAYS):
        raise InputInvalid(
            f"{field}: {start.isoformat()} is more than {MAX_AHEAD_DAYS} days ahead "
            f"(now {now.isoformat()}); start the window within the week before it"
        )
    ends = start + timedelta(minutes=minutes)
    return Window(
        incidentId=f"{AUTOMATION}-{start.astimezone(UTC):%Y%m%dT%H%MZ}-{minutes}m",
        executionId=execution_id,
        trigger=trigger,
        requestedBy=requested_by,
        reason=reason,
        durationMinutes=minutes,
        startsAt=_utc(start),
        endsAt=_utc(ends),
        noticeAt=_utc(start - timedelta(minutes=NOTICE_MINUTES)),
    )


def notice(w: Window, now: datetime) -> tuple[str, bool]:
    """The pre-maintenance notice (runbook 001: "Manutenção programada iniciando em 30
    minutos. API pode ficar temporariamente indisponível.") as it is at `now`, and whether
    it is late: a window planned less than 30 minutes ahead says how long people really
    have, never "30 minutes"."""
    start = datetime.fromisoformat(w.startsAt.replace("Z", "+00:00"))
    minutes = max(0, round((start - now).total_seconds() / 60))
    local = start.astimezone(BRT)
    text = (
        f"Scheduled maintenance of {SYSTEM} starts in {minutes} minutes "
        f"({local:%Y-%m-%d %H:%M} Brasília time, for {w.durationMinutes} minutes): "
        f"the API may be temporarily unavailable. Reason: {w.reason}"
    )
    late = minutes < NOTICE_MINUTES
    if late:
        text = f"LATE NOTICE ({minutes} of the {NOTICE_MINUTES} minutes ahead): " + text
    return text, late


def with_flags(document: dict[str, Any], values: dict[str, bool]) -> dict[str, Any]:
    """An AWS.AppConfig.FeatureFlags document with these flags set to these values (pure;
    a flag not yet declared is declared)."""
    doc: dict[str, Any] = json.loads(json.dumps(document))
    doc.setdefault("version", "1")
    for flag, on in values.items():
        doc.setdefault("flags", {}).setdefault(flag, {"name": flag})
        doc.setdefault("values", {}).setdefault(flag, {})["enabled"] = on
    return doc


def flag_value(document: dict[str, Any], flag: str) -> bool:
    return bool(document.get("values", {}).get(flag, {}).get("enabled", False))
