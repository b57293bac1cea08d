"""Saved events placed on the virtual timeline (local/replay.py)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

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


def _nested(depth: int, leaf: object) -> object:
    node = leaf
    for n in range(depth):
        node = {"x": node} if n % 2 else [node]
    return node


def _bottom(node: object) -> object:
    while isinstance(node, dict | list):
        node = node["x"] if isinstance(node, dict) else node[0]
    return node


def test_an_event_nested_thousands_deep_is_copied_and_its_dates_moved() -> None:
    """Issue 19: the recursive walk crashed (RecursionError) past ~1,000 levels."""
    event = load_event(FIVE_XX)
    event["detail"]["junk"] = _nested(5_000, "since 2026-11-20T03:12:00Z")

    moved = rebase(event, NOW)

    assert _bottom(moved["detail"]["junk"]) == "since 2027-03-10T12:00:00Z"
    assert moved["time"] == "2027-03-10T12:00:00Z"


def test_a_date_that_cannot_be_moved_is_left_as_it_is() -> None:
    """Year 9999 plus the delta overflows, month 13 is no date: each stays as written (the
    workflow's Claim refuses it naming the field), the rest of the event moves."""
    event = load_event(FIVE_XX)
    event["detail"]["state"]["timestamp"] = "9999-12-31T23:59:59.000+0000"
    event["detail"]["previousState"]["timestamp"] = "2026-13-45T25:61:61Z"
    event["detail"]["state"]["reason"] = "datapoint (31/12/99 23:59:59) and (45/13/26 00:00:00)"

    moved = rebase(event, NOW)

    assert moved["detail"]["state"]["timestamp"] == "9999-12-31T23:59:59.000+0000"
    assert moved["detail"]["previousState"]["timestamp"] == "2026-13-45T25:61:61Z"
    assert "(45/13/26 00:00:00)" in moved["detail"]["state"]["reason"]
    assert "(20/04/00 08:47:59)" in moved["detail"]["state"]["reason"], "CloudWatch's moved"
    assert moved["time"] == "2027-03-10T12:00:00Z"


@pytest.mark.parametrize(
    "time", ["9999-12-31T23:59:59Z", "0001-01-01T00:00:00Z", "2026-13-45T25:61:61Z", 7, None]
)
def test_an_event_whose_time_is_out_of_range_is_copied_unmoved(time: object) -> None:
    event = load_event(FIVE_XX)
    event["time"] = time

    moved = rebase(event, NOW)

    assert moved == event and moved is not event
    assert moved["detail"]["state"]["timestamp"] == "2026-11-20T03:12:00.000+0000"


def test_a_year_before_1000_keeps_four_digits() -> None:
    event = {"time": "2026-11-20T03:12:00Z", "old": "1500-01-01T00:00:00Z"}
    moved = rebase(event, datetime(1526, 11, 20, 3, 12, tzinfo=UTC))
    assert moved["time"] == "1526-11-20T03:12:00Z"
    assert moved["old"] == "0999-12-31T00:00:00Z", "zero-padded: still a timestamp"
