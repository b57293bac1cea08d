"""The one severity table (runbook 000 §6): response deadlines and who is paged when."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from selfheal_shared.core import severity
from selfheal_shared.edge import edges


@pytest.mark.parametrize(
    ("sev", "began", "due"),
    [
        ("P1", "2026-11-20T15:00:00+00:00", "2026-11-20T15:15:00+00:00"),
        ("P2", "2026-11-20T15:00:00+00:00", "2026-11-20T16:00:00+00:00"),
        ("P3", "2026-11-20T15:00:00+00:00", "2026-11-20T19:00:00+00:00"),
        # Thursday 19:00 in São Paulo; Friday 20 Nov is a national holiday.
        ("P4", "2026-11-19T22:00:00+00:00", "2026-11-23T09:00:00-03:00"),
        # Christmas Eve (a Thursday): Christmas is a holiday, then the weekend.
        ("P4", "2026-12-24T12:00:00+00:00", "2026-12-28T09:00:00-03:00"),
        # An ordinary Tuesday: Wednesday morning.
        ("P4", "2026-11-24T12:00:00+00:00", "2026-11-25T09:00:00-03:00"),
    ],
)
def test_response_deadline_by_severity(sev: str, began: str, due: str) -> None:
    got = severity.respond_by(sev, datetime.fromisoformat(began))
    assert got == datetime.fromisoformat(due)


def test_the_site_time_zone_decides_the_day() -> None:
    """Tuesday 23:30 in Manaus is already Wednesday in UTC: the next business day is the
    site's Wednesday, not Thursday."""
    at = datetime(2026, 11, 25, 3, 30, tzinfo=UTC)  # Tue 24 Nov, 23:30 in Manaus (UTC-4)
    got = severity.respond_by("P4", at, "America/Manaus")
    assert got.isoformat() == "2026-11-25T09:00:00-04:00"


def test_an_unknown_severity_is_refused_naming_it() -> None:
    with pytest.raises(ValueError, match="severity: 'P9'"):
        severity.respond_by("P9", datetime(2026, 11, 20, tzinfo=UTC))


def test_the_ladder_reads_the_same_table() -> None:
    assert edges.PAGE_MINUTES is severity.PAGE_MINUTES
    assert edges.page_due("P1", 15, ["l1"]) == ("l2", None)
    assert severity.page_due("P3", 30, []) == (None, 60.0)
    assert severity.page_due("P4", 10_000, []) == (None, None)
