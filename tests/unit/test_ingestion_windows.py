"""The data platform's windows: the last 24 h rolling, and silence against a source's
usual gap (pure logic of selfheal_shared.data.ingestion)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from selfheal_shared.core import approvals
from selfheal_shared.data import ingestion

from local.worlds.data import IngestionSpec, ingestion_keys

TWO_AM = datetime(2026, 11, 20, 2, tzinfo=UTC)


def _spec(**kwargs: object) -> IngestionSpec:
    base: dict[str, object] = {
        "scope": "s",
        "rules": [],
        "stateMachine": "m",
        "loaderFunction": "f",
        "processedBucket": "p",
        "backupBucket": "b",
        "objectsPerDay": {"a": 24, "b": 6},
    }
    return IngestionSpec.model_validate({**base, **kwargs})


def test_healthy_sources_at_two_am_are_not_suspicious() -> None:
    counts = ingestion.hourly_counts(ingestion_keys(_spec(), TWO_AM))
    report = ingestion.integrity_report(counts, TWO_AM)
    assert report["suspicious"] == []
    assert [s["last24h"] for s in report["sources"]] == [24, 6]


def test_the_calendar_day_would_have_flagged_them() -> None:
    """What the old check read: 11-20 holds two hours of a 24-hour day."""
    counts = ingestion.hourly_counts(ingestion_keys(_spec(), TWO_AM))
    today = sum(n for h, n in counts["a"].items() if h.date() == TWO_AM.date())
    assert today == 2


def test_doubled_volume_is_suspicious_and_a_new_source_is_not() -> None:
    keys = [*ingestion_keys(_spec(todayFactor={"a": 2.5}), TWO_AM), "new/2026/11/19/12/x"]
    report = ingestion.integrity_report(ingestion.hourly_counts(keys), TWO_AM)
    assert report["suspicious"] == ["a"]
    assert ingestion.unplaced([*keys, "a/2026/11/19/x.json"]) == 1


def test_silence_is_measured_against_the_usual_gap() -> None:
    now = datetime(2026, 11, 20, 15, tzinfo=UTC)
    keys = ingestion_keys(_spec(silentForHours={"a": 3, "b": 3}), now)
    report = ingestion.silence_report(ingestion.hourly_counts(keys), now)
    # a reports hourly (silent after 2 h); b every 4 h (3 h quiet is its normal gap).
    assert [s["source"] for s in report["silent"]] == ["a"]
    assert report["sending"] == ["b"] and report["coveragePercent"] == 50.0
    assert report["silent"][0]["silentForHours"] == 3.0


def test_silence_window_reads_only_the_days_needed() -> None:
    days = ingestion.days_to_list(TWO_AM, 7)
    assert days[0] == (TWO_AM - timedelta(days=8)).date() and days[-1] == TWO_AM.date()


def test_a_resume_must_acknowledge_every_flagged_source() -> None:
    integrity = {"suspicious": ["a", "b"]}
    answer = {"decision": "resume", "operator": "ana", "reason": "checked"}
    resume = approvals.Decision.model_validate({**answer, "acknowledge": ["a"]})
    assert ingestion.unacknowledged(resume, integrity) == ["b"]
    keep = approvals.Decision.model_validate({**answer, "decision": "keep_frozen"})
    assert ingestion.unacknowledged(keep, integrity) == []
