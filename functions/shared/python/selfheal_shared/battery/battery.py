"""Battery P1 incidents (runbook 000 §5): cell readings, the restart lock and the E-Stop
state that every command to a battery system must respect. Reads the edge registry only."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from ..core import clock, escalation_policy, page_chain, refusals, severity
from ..core.outcomes import Outcome
from ..edge import edge_registry, edges
from .incident import scopes

if TYPE_CHECKING:
    from ..core.protocol import Run
    from .incident import Incident

#: Runbook 000 §5b: "Se delta > 200mV entre células: → Executar equalização".
IMBALANCE_LIMIT_MV = 200
#: The escalation policy battery incidents page on (events/escalation/lifo4-ems.json).
SYSTEM = severity.SYSTEM
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


def estop_active(edge_id: str) -> str | None:
    """Why an active E-Stop forbids acting on this system (runbook 000 §5c), or None."""
    edge = edge_registry.get(f"edge#{edge_id}") or {}
    if "EMERGENCY_STOP" in edges.active_alarms(edge):
        return "EMERGENCY_STOP active: never acted on without a human (runbook 000 §5c)"
    return None


def blocker(edge_id: str) -> str | None:
    """Why no command may (re)start this system now, or None: a restart lock held (an
    over-temperature not yet normal) or an active E-Stop."""
    return restart_lock(edge_id) or estop_active(edge_id)


#: Runbook 000 §5a: over-temperature is "> 50°C"; the lock lifts only below the safe limit,
#: held for a sustained period, read from fresh telemetry (`FRESH_FOR`).
OVER_TEMPERATURE_C = 50.0
SAFE_TEMPERATURE_C = 45.0
SUSTAIN_MINUTES = 30
#: The age past which a reading says nothing about the system now: the reporting interval.
#: Runbook 000 §1 "Não há telemetria recente (> 30s sem dados)": a live edge reports at
#: least every 30 s (`edges.STALE_AFTER`, the bound the ingress sweep calls an edge offline
#: by). An older reading means "cannot confirm", never "confirmed".
FRESH_FOR = edges.STALE_AFTER
#: Where `FRESH_FOR` comes from, quoted in what is recorded.
FRESH_SOURCE = "runbook 000 §1 '> 30s sem dados': an edge reports at least every 30 s"


@dataclass(frozen=True)
class Reading:
    """One value from the edge's telemetry and when it was measured: a decision uses it only
    while it is fresh (no older than `FRESH_FOR`)."""

    value: str
    at: datetime | None
    now: datetime

    @property
    def age(self) -> timedelta | None:
        return None if self.at is None else self.now - self.at

    @property
    def fresh(self) -> bool:
        return self.value != "" and self.age is not None and self.age <= FRESH_FOR

    def describe(self) -> str:
        """`read at <t>, <n> s old` (or never), and why a stale one is refused."""
        if self.at is None or self.value == "":
            return "no reading"
        old = int((self.age or timedelta()).total_seconds())
        text = f"read at {self.at.isoformat()}, {old} s old"
        if not self.fresh:
            text += f" (stale: > {int(FRESH_FOR.total_seconds())} s, {FRESH_SOURCE})"
        return text


def reading(edge: dict[str, Any], field: str, at_field: str, now: datetime) -> Reading:
    """The edge registry's `field`, measured at `at_field` (the edge's own timestamp)."""
    value = edge.get(field)
    at = edge.get(at_field)
    return Reading(
        value="" if value is None else str(value),
        at=datetime.fromisoformat(str(at)) if at else None,
        now=now,
    )


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
    if temperature is None or read_at is None or now - read_at > FRESH_FOR:
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
    action: str | None = None,
    extra: dict[str, Any] | None = None,
    watch: bool = True,
) -> str | None:
    """Page through the incident's page chain whoever the lifo4-ems policy says is due now
    (runbook 000 §6: P1 L1 at once, L2 at 15, L3 at 30 minutes from the alarm's raise), and
    record it. With `watch`, the chain's watcher (`page_chain` workflow) pages the later
    levels while this workflow waits; without, the caller's own loop calls again when the
    next level is due (its pages carry what it reads then). None when nobody is due yet,
    the chain was acknowledged, or a silence covers the edge, its alarm, its site or the
    fleet (the held page is recorded and no chain opened: it is paged once the silence
    ends)."""
    from ..core.protocol import recorded_steps

    existing = page_chain.get(inc.incidentId)
    began = ladder_start(inc, existing)
    quiet = refusals.quiet([inc.edgeId, *scopes(inc)])
    if existing is not None:  # its ladder's clock stands still while a silence holds it
        existing = page_chain.hold(existing, silenced=quiet is not None)
        due = existing.due()
    else:
        due = escalation_policy.due(
            escalation_policy.load(SYSTEM),
            inc.severity,
            (clock.now() - began).total_seconds() / 60,
            set(),
        )
    if due.level is None:
        if existing is not None:  # a retry after the first pages: its watcher, if not asked
            page_chain.ask_for_watcher(inc.incidentId)
        return None
    if quiet:
        run.record(
            action or f"page_{due.level}",
            why=f"silenced on {quiet['scope']} until {quiet['endsAt']}: {quiet.get('reason', '')}",
            result=f"page to {due.level} suppressed",
            outcome=Outcome.SKIPPED_BY_GUARD,
            details={HELD_UNTIL: str(quiet["endsAt"])},
        )
        return None
    title = f"[selfheal] {inc.severity} {inc.edgeId} {subject}"
    message = {
        "incidentId": inc.incidentId,
        "automation": run.automation,
        "severity": inc.severity,
        "respondWithin": severity.response_text(inc.severity),
        "summary": summary,
        **(extra or {}),
    }
    chain = page_chain.open_chain(
        inc.incidentId,
        system=SYSTEM,
        severity=inc.severity,
        started=began,
        watch=watch,
        automation=run.automation,
        subject=title,
        message=message,
        scopes=(inc.edgeId, *scopes(inc)),
    )
    paged: list[str] = []
    while (level := (page_chain.get(inc.incidentId) or chain).due().level) is not None:
        body = {**message, "done": recorded_steps(inc.incidentId)}
        if not page_chain.page(chain, level, subject=title, message=body):
            break
        paged.append(level)
    if not paged:
        return None
    run.record(
        action or f"page_{paged[0]}",
        why=why,
        result=f"paged {', '.join(paged)}",
        outcome=Outcome.ESCALATED,
    )
    page_chain.ask_for_watcher(inc.incidentId)
    return paged[0]


#: A held page's record says until when the silence held it.
HELD_UNTIL = "silencedUntil"


def ladder_start(inc: Incident, chain: page_chain.Chain | None) -> datetime:
    """When the incident's ladder counts from: the alarm's raise, or, when a silence held
    its first page, the end of that silence (runbook 000 §6: the silence suppresses paging
    and the incident resumes when it expires; the held time is no one's unanswered page)."""
    from ..core import audit

    if chain is not None:
        return clock.parse_aws_time(chain.startedAt)
    start = clock.parse_aws_time(inc.raisedAt)
    for r in audit.history(inc.incidentId):
        details = r.get("details")
        held = details.get(HELD_UNTIL) if isinstance(details, dict) else None
        if r["action"].startswith("page") and held:
            start = max(start, clock.parse_aws_time(str(held)))
    return min(start, clock.now())  # a silence lifted early resumes now


def resolve(run: Run[Any], inc: Incident, *, why: str, cause: str = "") -> list[str]:
    """The incident ended: one resolve to every level its page chain paged (none when it
    paged nobody), recorded; `cause`: the root cause as found (the post-incident record's)."""
    levels = page_chain.close(
        inc.incidentId,
        subject=f"[selfheal] RESOLVED {inc.severity} {inc.edgeId} {inc.alarm}",
        message={
            "incidentId": inc.incidentId,
            "automation": run.automation,
            "reason": why,
            **({"rootCause": cause} if cause else {}),
        },
    )
    if levels:
        run.record("resolve", why=why, result=f"resolve sent to {', '.join(levels)}")
    return levels


#: The audit action of the over-temperature maintenance page (runbook 000 §5a).
MAINTENANCE_PAGE = "page_maintenance"


def paged(incident_id: str, action: str) -> bool:
    """Whether the page `action` went out for this incident (recorded ESCALATED; a page a
    silence held is recorded SKIPPED_BY_GUARD)."""
    from ..core import audit

    return any(
        r["action"] == action and r.get("outcome") == Outcome.ESCALATED
        for r in audit.history(incident_id)
    )


def page_maintenance(run: Run[Any], inc: Incident, *, resumed: bool = False) -> str | None:
    """Runbook 000 §5a "Acionar manutenção preventiva" on the severity's clock (P1: L1 at
    once); held while a silence covers the incident, sent when it ends (`resumed`)."""
    return page(
        run,
        inc,
        subject="OVER_TEMPERATURE: maintenance",
        summary=f"OVER_TEMPERATURE on {inc.edgeId}: check the cooling (thermal cameras); "
        "preventive maintenance requested; restart locked"
        + ("; the silence on this alarm has ended" if resumed else ""),
        why=f"{inc.severity}: runbook 000 §5a 'Acionar manutenção preventiva'"
        + (" (held by a silence until it ended)" if resumed else ""),
        action=MAINTENANCE_PAGE,
        extra={"maintenance": True},
    )
