"""Runbook 000 §6 "Níveis de severidade": the response clock of each severity and who is
paged when, read from the system's escalation policy (`events/escalation/lifo4-ems.json`,
the one copy: P1 L1 at 0 / L2 15 / L3 30 min, P2 L1 10 / L2 30 / L3 60, P3 L1 60 / L2 240,
P4 a ticket to ops for the next business day in the site's time zone). The edge offline
ladder and the battery alarm workflows read it. No I/O here beyond the policy file.

P2 pages L1 at 10 minutes: the runbook's P2 edge is "Edge offline > 10min", and a P2 alarm
that clears by itself within 10 minutes needs no one.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from . import escalation_policy
from .national_calendar import national_holidays

Severity = str
SEVERITIES = ("P1", "P2", "P3", "P4")

#: The system whose policy runbook 000's incidents (edges, batteries) page on.
SYSTEM = "lifo4-ems"
_POLICY = escalation_policy.load(SYSTEM)
#: Minutes since the incident began at which each level is paged, by severity.
PAGE_MINUTES: dict[str, dict[str, int]] = {
    sev: dict(p.pages) for sev, p in _POLICY.severities.items()
}
#: Runbook 000 §6 "Resposta": P1 < 15 min, P2 < 1h, P3 < 4h (P4: next business day).
RESPONSE = {
    sev: timedelta(minutes=p.respondWithinMinutes)
    for sev, p in _POLICY.severities.items()
    if p.respondWithinMinutes
}


def response_text(severity: str) -> str:
    """`15 minutes`, `1 hour`, ... or `next business day`: what a page says to respond in."""
    if severity not in RESPONSE:
        return "next business day"
    minutes = int(RESPONSE[severity].total_seconds() // 60)
    if minutes % 60:
        return f"{minutes} minutes"
    return f"{minutes // 60} hour" + ("s" if minutes > 60 else "")


#: Where a P4 goes instead of a page.
TICKET_LEVEL = _POLICY.severities["P4"].ticket or "ops"
#: Sites without a `timezone` thing attribute are in Brazil's official time.
DEFAULT_TZ = "America/Sao_Paulo"
#: When the next business day's work starts, site time.
BUSINESS_START = time(9, 0)


def page_due(
    severity: str,
    minutes: float,
    paged: list[str],
    overrides: dict[str, dict[str, int]] | None = None,
) -> tuple[str | None, float | None]:
    """The level to page now (if any) and the minutes at which the next page falls, on the
    schedule of `severity` (an operator's override for that severity, or the policy's), by
    the one rule every ladder uses (`escalation_policy.due`)."""
    policy = _POLICY.with_pages(overrides) if overrides else _POLICY
    if severity not in policy.severities:
        return None, None
    due = escalation_policy.due(policy, severity, minutes, set(paged))
    return due.level, due.next_at


def business_day_after(at: datetime, tz: str, holidays: set[date]) -> datetime:
    """The start of the next business day after `at` in the site's time zone: not a
    Saturday, Sunday or one of `holidays` (the national calendar, `holidays_between`)."""
    zone = ZoneInfo(tz)
    day = at.astimezone(zone).date() + timedelta(days=1)
    while day.weekday() >= 5 or day in holidays:
        day += timedelta(days=1)
    return datetime.combine(day, BUSINESS_START, zone)


def holidays_between(start: date, end: date) -> set[date]:
    """Brazil's national holidays (`national_calendar`, the fiscal report's too: one
    calendar, not two)."""
    return set(national_holidays(start, end))


def respond_by(severity: str, began: datetime, tz: str = DEFAULT_TZ) -> datetime:
    """The response deadline of an incident of `severity` that began at `began`."""
    if severity in RESPONSE:
        return began + RESPONSE[severity]
    if severity != "P4":
        raise ValueError(f"severity: {severity!r} is not one of {', '.join(SEVERITIES)}")
    local = began.astimezone(ZoneInfo(tz)).date()
    return business_day_after(began, tz, holidays_between(local, local + timedelta(days=21)))
