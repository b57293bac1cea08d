"""The one severity table (runbook 000 §6 "Níveis de severidade"): the response clock of
each level and who is paged when. The edge offline ladder and the battery alarm workflows
both read it. No I/O here.

| Nível         | Resposta          | paged (minutes since the incident began)     |
| P1 - CRITICAL | < 15 min          | L1 at 0, L2 at 15, L3 at 30                  |
| P2 - HIGH     | < 1h              | L1 at 10, L2 at 30, L3 at 60                 |
| P3 - MEDIUM   | < 4h              | L1 at 60, L2 at 240                          |
| P4 - LOW      | Próximo dia útil  | nobody paged: a ticket to ops for the next   |
|               |                   | business day in the site's time zone         |

P2 pages L1 at 10 minutes: the runbook's P2 edge is "Edge offline > 10min", and a P2 alarm
that clears by itself within 10 minutes needs no one.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from .national_calendar import national_holidays

Severity = str
SEVERITIES = ("P1", "P2", "P3", "P4")

#: Minutes since the incident began at which each level is paged, by severity.
PAGE_MINUTES: dict[str, dict[str, int]] = {
    "P1": {"l1": 0, "l2": 15, "l3": 30},
    "P2": {"l1": 10, "l2": 30, "l3": 60},
    "P3": {"l1": 60, "l2": 240},
    "P4": {},
}
#: Runbook 000 §6 "Resposta": P1 < 15 min, P2 < 1h, P3 < 4h (P4: next business day).
RESPONSE = {
    "P1": timedelta(minutes=15),
    "P2": timedelta(hours=1),
    "P3": timedelta(hours=4),
}
#: Where a P4 goes instead of a page.
TICKET_LEVEL = "ops"
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
    schedule of `severity` (an operator's override for that severity, or the table's)."""
    chosen = (overrides or {}).get(severity) or PAGE_MINUTES.get(severity, {})
    for level, at in sorted(chosen.items(), key=lambda kv: kv[1]):
        if level in paged:
            continue
        if minutes >= at:
            return level, None
        return None, float(at)
    return None, None


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
