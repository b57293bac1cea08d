"""Forced OTA's pure logic (runbook 000 §2): the maintenance window in local time, the
per-edge blockers and the request's target list."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError
from selfheal_shared.core.errors import InputInvalid
from selfheal_shared.edge import ota

NOW = datetime(2026, 11, 20, 6, 30, tzinfo=UTC)  # 03:30 in São Paulo
IDLE = {"state": "online", "lastTelemetryAt": NOW.isoformat(), "powerKw": "0.0", "soc": "64"}


def test_the_default_window_is_02_to_05_local_and_a_setting_replaces_it() -> None:
    default = ota.window_of(None, None)
    assert default.describe() == "02:00-05:00 America/Sao_Paulo"
    assert default.contains(NOW) and not default.contains(NOW + timedelta(hours=2))
    immediate = ota.window_of({"startHour": "0", "endHour": "24"}, "America/Sao_Paulo")
    assert all(immediate.contains(NOW + timedelta(hours=h)) for h in range(24))
    night = ota.window_of({"startHour": 22, "endHour": 3}, "UTC")
    assert night.contains(datetime(2026, 1, 1, 23, tzinfo=UTC))
    assert night.contains(datetime(2026, 1, 1, 2, tzinfo=UTC))
    assert not night.contains(datetime(2026, 1, 1, 12, tzinfo=UTC))


@pytest.mark.parametrize(
    ("change", "lock", "reason"),
    [
        ({}, None, None),
        ({"powerKw": "-8"}, None, "in active operation: -8 kW flowing"),
        (
            {"alarms": "MAINTENANCE_WARNING,EMERGENCY_STOP"},
            None,
            "critical alarm active: EMERGENCY_STOP",
        ),
        ({"alarms": "HIGH_LATENCY"}, None, None),
        ({"soc": "19.5"}, None, "SOC 19.5 % < 20 %"),
        ({"soc": "20"}, None, None),
        ({"soc": ""}, None, "no SOC reading"),
        ({"state": "offline", "since": "x"}, None, "edge offline since x"),
        ({"lastTelemetryAt": (NOW - timedelta(minutes=11)).isoformat()}, None, "no telemetry"),
        ({}, "restart lock held since t: hot", "restart lock held since t: hot"),
    ],
)
def test_each_blocker_gives_its_reason(
    change: dict[str, str], lock: str | None, reason: str | None
) -> None:
    found = ota.blockers({**IDLE, **change}, lock=lock, window=ota.window_of(None, None), now=NOW)
    if reason is None:
        assert found == []
    else:
        assert len(found) == 1 and found[0].startswith(reason), found


def test_outside_the_window_is_a_blocker_with_the_local_time() -> None:
    later = NOW + timedelta(hours=3)
    found = ota.blockers(
        {**IDLE, "lastTelemetryAt": later.isoformat()},
        lock=None,
        window=ota.window_of(None, None),
        now=later,
    )
    assert found == ["outside the maintenance window 02:00-05:00 America/Sao_Paulo (now 06:30)"]


@pytest.mark.parametrize("targets", [[], ["*"], ["edge-*"], ["all"], ["a/b"], ["x", "x"]])
def test_targets_must_name_each_edge_once(targets: list[str]) -> None:
    with pytest.raises(ValidationError) as exc:
        ota.OtaRequest.model_validate({"version": "1.2.0", "targetEdgeIds": targets})
    assert exc.value.errors()[0]["loc"] == ("targetEdgeIds",)


def test_the_rollout_and_abort_configuration_use_the_iot_jobs_field_names(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SELFHEAL_OTA_MAX_PER_MINUTE", "0")
    assert ota.rollout_config() == {"maximumPerMinute": 1}
    [criteria] = ota.abort_config()["criteriaList"]
    assert criteria == {
        "failureType": "FAILED",
        "action": "CANCEL",
        "thresholdPercentage": 20.0,
        "minNumberOfExecutedThings": 2,
    }
    assert len(ota.job_id("forced_ota-" + "x" * 80, "rollback12")) <= 64


@pytest.mark.parametrize(
    ("setting", "tz", "names"),
    [
        ({"startHour": "x", "endHour": "5"}, None, "unreadable"),
        ({"startHour": "3"}, None, "unreadable"),
        ({"startHour": "25", "endHour": "5"}, None, "25-5"),
        ({"startHour": "4", "endHour": "4"}, None, "4-4"),
        (None, "Mars/Olympus", "Mars/Olympus"),
    ],
)
def test_a_bad_window_setting_or_time_zone_is_named_not_guessed(
    setting: dict[str, str] | None, tz: str | None, names: str
) -> None:
    with pytest.raises(ValueError, match=names):
        ota.window_of(setting, tz)


def test_the_published_input_schema_and_the_request_model_agree() -> None:
    """What the console user reads (the schema) is what the workflow accepts (the model)."""
    import json
    from pathlib import Path

    from selfheal_shared.core import input_schema

    root = Path(__file__).resolve().parents[2]
    sample = json.loads((root / "events/manual/forced_ota.manual_request.json").read_text())
    assert input_schema.check("forced_ota", sample) == sample
    ota.OtaRequest.model_validate(sample)
    published = input_schema.schema("forced_ota")
    assert set(published["properties"]) == set(ota.OtaRequest.model_fields)
    assert set(published["required"]) == {
        name for name, f in ota.OtaRequest.model_fields.items() if f.is_required()
    }
    with pytest.raises(InputInvalid, match="targetEdgeIds"):
        input_schema.check("forced_ota", {**sample, "targetEdgeIds": []})
