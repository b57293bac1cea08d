"""Brazil's national calendar: one calendar for every domain that counts business days (the
fiscal report's tariff periods, a P4 ticket's next business day in `severity`). No I/O here."""

from __future__ import annotations

import functools
from datetime import date


def national_holidays(start: date, end: date) -> dict[date, str]:
    """Brazil's national (public) holidays in [start, end), from the `holidays` library:
    a maintained calendar (movable feasts, new laws such as 20 November since 2024)
    rather than a list kept here. Imported on first use, so only the functions that ask for
    a calendar ship it (their requirements.txt)."""
    days = (_national_year(y) for y in range(start.year, end.year + 1))
    return {d: name for year in days for d, name in year if start <= d < end}


@functools.lru_cache(maxsize=16)
def _national_year(year: int) -> tuple[tuple[date, str], ...]:
    """One year's calendar, built once per process (the library builds it in ~0.2 s)."""
    import holidays

    calendar = holidays.country_holidays("BR", years=year, categories=holidays.PUBLIC)
    return tuple((d, str(name)) for d, name in sorted(calendar.items()))
