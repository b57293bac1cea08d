"""Pure logic of the battery P1 workflows (runbook 000 §5): cell delta and when the
over-temperature restart lock may be released."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from selfheal_shared.battery import battery
from selfheal_shared.core.errors import InputInvalid
from selfheal_shared.edge import edges

T0 = datetime(2026, 11, 20, 15, 0, tzinfo=UTC)


def test_cells_and_delta() -> None:
    assert battery.cells({"cellsMv": "3300,3550,3310"}) == [3300, 3550, 3310]
    assert battery.delta_mv([3300, 3550, 3310]) == 250
    assert battery.cells({}) == [] and battery.delta_mv([]) == 0


def test_release_needs_a_fresh_reading_below_the_limit_for_the_whole_period() -> None:
    def due(temp: float | None, read_min: float, since_min: float | None, now_min: float) -> bool:
        return battery.release_due(
            temperature=temp,
            read_at=T0 + timedelta(minutes=read_min),
            normal_since=None if since_min is None else T0 + timedelta(minutes=since_min),
            now=T0 + timedelta(minutes=now_min),
        )[0]

    assert not due(43.0, 10, None, 10), "the first normal reading only starts the count"
    assert not due(43.0, 39, 10, 39)
    assert due(43.0, 40, 10, 40)
    assert not due(45.0, 40, 10, 40), "at the limit is not below it"
    assert not due(43.0, 40, 10, 55), "a stale reading proves nothing"
    assert battery.release_due(temperature=47.0, read_at=T0, normal_since=T0, now=T0)[1] is None


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"alarm": "MELTDOWN", "ts": 1}, "alarm"),
        ({"alarm": "OVER_TEMPERATURE", "ts": 0}, "ts"),
        ({"alarm": "OVER_TEMPERATURE", "ts": 1, "state": "maybe"}, "state"),
    ],
)
def test_a_bad_alarm_names_the_field(payload: dict[str, object], field: str) -> None:
    with pytest.raises(InputInvalid, match=field):
        edges.parse_signal({"topic": "lifo4/edge-1/alarms", "payload": payload})


def test_an_alarm_signal() -> None:
    s = edges.parse_signal(
        {"topic": "lifo4/edge-1/alarms", "payload": {"alarm": "EMERGENCY_STOP", "ts": 1}}
    )
    assert s.kind == "alarm" and s.payload["state"] == "active"
    assert edges.ALARM_SEVERITY["EMERGENCY_STOP"] == "P1"
