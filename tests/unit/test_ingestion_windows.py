"""The data platform's windows: the last 24 h rolling, and silence against a source's
usual gap (pure logic of selfheal_shared.data.ingestion)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from selfheal_shared.core import approvals
from selfheal_shared.data import ingestion, records

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


def _per_window(keys: list[str], now: datetime) -> dict[str, list[int]]:
    """Records per source in each rolling 24 h window before `now` (what the store's count
    answers), from the world's record times."""
    spans = records.windows(now, 7)
    times = [
        (k.split("/", 1)[0], datetime.strptime(k.rsplit("/", 1)[1][:15], "%Y%m%dT%H%M%S"))
        for k in keys
    ]
    out: dict[str, list[int]] = {}
    for source, at in times:
        at = at.replace(tzinfo=UTC)
        for i, (start, end) in enumerate(spans):
            if start <= at < end:
                out.setdefault(source, [0] * len(spans))[i] += 1
    return out


def test_healthy_sources_at_two_am_are_not_suspicious() -> None:
    report = ingestion.integrity_report(
        _per_window(ingestion_keys(_spec(), TWO_AM), TWO_AM), records.windows(TWO_AM, 7)
    )
    assert report["suspicious"] == []
    assert [s["last24h"] for s in report["sources"]] == [24, 6]
    assert report["window"]["start"] == "2026-11-19T02:00:00+00:00"


def test_the_calendar_day_would_have_flagged_them() -> None:
    """What the old check read: 11-20 holds two hours of a 24-hour day."""
    counts = ingestion.hourly_counts(ingestion_keys(_spec(), TWO_AM))
    today = sum(n for h, n in counts["a"].items() if h.date() == TWO_AM.date())
    assert today == 2


def test_doubled_volume_is_suspicious_and_a_new_source_is_not() -> None:
    keys = [
        *ingestion_keys(_spec(todayFactor={"a": 2.5}), TWO_AM),
        "new/2026/11/19/12/20261119T120000-0000.json",
    ]
    report = ingestion.integrity_report(_per_window(keys, TWO_AM), records.windows(TWO_AM, 7))
    assert report["suspicious"] == ["a"]
    assert ingestion.unplaced([*keys, "a/2026/11/19/x.json"]) == 1


def test_the_count_query_has_explicit_bounds_and_reads_its_answer() -> None:
    cfg = records.StoreConfig(
        url="http://store:8086", database="energy_data", measurement="energy", field="value",
        sourceTag="source",
        secretArn="arn:aws:secretsmanager:us-east-1:123456789012:secret:selfheal/data/x-AbCdEf",
    )  # fmt: skip
    spans = records.windows(TWO_AM, 1)
    q = records.count_query(cfg, spans)
    assert "now()" not in q and q.count("SELECT") == 2
    assert "time >= '2026-11-19T02:00:00.000000Z' AND time < '2026-11-20T02:00:00.000000Z'" in q
    answer = {"results": [
        {"statement_id": 0, "series": [{"tags": {"source": "a"}, "columns": ["time", "count"],
                                        "values": [["x", 3]]}]},
        {"statement_id": 1},
    ]}  # fmt: skip
    assert records.per_source(answer, "source", 2) == {"a": [3, 0]}
    with pytest.raises(ValueError, match="refused"):
        records.per_source({"results": [{"error": "boom"}, {}]}, "source", 2)


def test_a_resume_over_an_unverified_check_must_say_so() -> None:
    answer = {"decision": "resume", "operator": "ana", "reason": "checked"}
    resume = approvals.Decision.model_validate(answer)
    assert ingestion.unacknowledged(resume, {"verified": False, "suspicious": []}) == [
        records.UNVERIFIED
    ]


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
