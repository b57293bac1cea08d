"""Battery P1 incidents (runbook 000 §5): cell readings, the restart lock and the E-Stop
state that every command to a battery system must respect. Reads the edge registry only."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from ..core import notify, refusals, severity
from ..core.outcomes import Outcome
from ..edge import edge_registry, edges
from .incident import scopes

if TYPE_CHECKING:
    from ..core.protocol import Run
    from .incident import Incident

#: Runbook 000 §5b: "Se delta > 200mV entre células: → Executar equalização".
IMBALANCE_LIMIT_MV = 200
#: Commands that would bring a stopped system back: refused under a restart lock (§5a "NÃO
#: religar até normalizar temperatura") and while an E-Stop is active (§5c).
RESTARTING = frozenset({"restart", "ota-rollback", "equalize"})


def cells(edge: dict[str, Any]) -> list[int]:
    """The last cell voltages (mV) the edge reported, [] when it never sent them."""
    text = str(edge.get("cellsMv") or "")
    return [int(v) for v in text.split(",") if v]


def delta_mv(values: list[int]) -> int:
    return max(values) - min(values) if len(values) >= 2 else 0


def lock_key(edge_id: str) -> str:
    return f"restart-lock#{edge_id}"


def restart_lock(edge_id: str) -> str | None:
    """Why the system may not be restarted (an over-temperature not yet normal), or None."""
    lock = edge_registry.get(lock_key(edge_id))
    if lock and lock.get("state") == "held":
        return f"restart lock held since {lock.get('since', '?')}: {lock.get('reason', '')}"
    return None


def blocker(edge_id: str) -> str | None:
    """Why no command may (re)start this system now, or None: a restart lock held (an
    over-temperature not yet normal) or an active E-Stop."""
    if held := restart_lock(edge_id):
        return held
    edge = edge_registry.get(f"edge#{edge_id}") or {}
    if "EMERGENCY_STOP" in edges.active_alarms(edge):
        return "EMERGENCY_STOP active: never acted on without a human (runbook 000 §5c)"
    return None


#: Runbook 000 §5a: over-temperature is "> 50°C"; the lock lifts only below the safe limit,
#: held for a sustained period, read from telemetry no older than `FRESH_MINUTES`.
OVER_TEMPERATURE_C = 50.0
SAFE_TEMPERATURE_C = 45.0
SUSTAIN_MINUTES = 30
FRESH_MINUTES = 10
#: |power| at or below this is "no power flow": the system stopped.
STOPPED_KW = 0.5


def release_due(
    *,
    temperature: float | None,
    read_at: datetime | None,
    normal_since: datetime | None,
    now: datetime,
    safe: float = SAFE_TEMPERATURE_C,
    sustain_minutes: float = SUSTAIN_MINUTES,
) -> tuple[bool, datetime | None, str]:
    """(release now?, the new start of the normal period, why) from the latest reading: a
    stale or missing reading or one at/above the safe limit restarts the count."""
    if temperature is None or read_at is None or now - read_at > timedelta(minutes=FRESH_MINUTES):
        return False, None, "no fresh temperature reading"
    if temperature >= safe:
        return False, None, f"{temperature:g} °C >= the safe limit {safe:g} °C"
    since = normal_since or read_at
    normal = (read_at - since).total_seconds() / 60
    if normal >= sustain_minutes:
        return True, since, f"below {safe:g} °C for {normal:.0f} min (latest {temperature:g} °C)"
    return False, since, f"below {safe:g} °C for {normal:.0f} of {sustain_minutes:g} min"


def page(
    run: Run[Any],
    inc: Incident,
    *,
    subject: str,
    summary: str,
    why: str,
    minutes: float = 0,
    paged: tuple[str, ...] = (),
    action: str | None = None,
    extra: dict[str, Any] | None = None,
) -> str | None:
    """Page the level due now on the severity clock (runbook 000 §6, `severity.py`) and
    record it; None when no page is due or a silence covers the edge, its alarm, its site
    or the fleet (the suppressed page is recorded, not marked paged: it goes out once the
    silence ends, if still due)."""
    from ..core.protocol import recorded_steps

    level, _ = severity.page_due(inc.severity, minutes, list(paged))
    if level is None:
        return None
    name = action or f"page_{level}"
    if quiet := refusals.quiet([inc.edgeId, *scopes(inc)]):
        run.record(
            name,
            why=f"silenced on {quiet['scope']} until {quiet['endsAt']}: {quiet.get('reason', '')}",
            result=f"page to {level} suppressed",
            outcome=Outcome.SKIPPED_BY_GUARD,
        )
        return None
    notify.publish(
        level,
        subject=f"[selfheal] {inc.severity} {inc.edgeId} {subject}",
        message={
            "incidentId": inc.incidentId,
            "automation": run.automation,
            "severity": inc.severity,
            "summary": summary,
            "done": recorded_steps(inc.incidentId),
            **(extra or {}),
        },
    )
    run.record(name, why=why, result=f"paged {level}", outcome=Outcome.ESCALATED)
    return level
