"""Saved events placed on the virtual timeline (local/replay.py)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from local.replay import rebase
from tests.helpers import FIVE_XX, SAMPLES, load_event

NOW = datetime(2027, 3, 10, 12, 0, tzinfo=UTC)


def test_an_alarm_moves_to_now_with_its_own_offsets_and_formats() -> None:
    event = rebase(load_event(FIVE_XX), NOW)  # captured 2026-11-20T03:12:00Z

    assert event["time"] == "2027-03-10T12:00:00Z"
    detail = event["detail"]
    assert detail["state"]["timestamp"] == "2027-03-10T12:00:00.000+0000"
    assert detail["previousState"]["timestamp"] == "2027-03-10T11:50:00.000+0000", "10 min before"
    assert json.loads(detail["state"]["reasonData"])["queryDate"] == "2027-03-10T12:00:00.000+0000"
    assert "[42.0 (10/03/27 11:59:00)]" in detail["state"]["reason"], "CloudWatch's own format"
    assert detail["alarmName"] == "orders-api-errors", "nothing else changes"


def test_an_edge_event_moves_its_detail_times_too() -> None:
    event = rebase(load_event(SAMPLES / "edge_offline_ladder.last_will_offline.json"), NOW)

    assert event["time"] == "2027-03-10T12:00:00Z"
    assert event["detail"]["at"] == "2027-03-10T12:00:00+00:00"


def test_every_sample_lands_at_now_and_the_original_is_untouched() -> None:
    for path in sorted(SAMPLES.glob("*.json")):
        original = load_event(path)
        moved = rebase(original, NOW)
        assert moved["time"] == "2027-03-10T12:00:00Z", path.name
        assert original == load_event(path), "rebase returns a copy"


def test_an_event_without_a_time_is_left_as_it_is() -> None:
    payload = {"scope": "ons-platform", "note": "since 2026-11-20T03:00:00Z"}
    assert rebase(payload, NOW) == payload
