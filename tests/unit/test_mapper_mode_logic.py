"""The pure parts of degraded mode (runbook 002 "INCIDENTE 3"): the healthy-period watch
and the feature-flag document."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from selfheal_shared.api.mapper_mode import HEALTHY_MINUTES, WATCH_MINUTES, watch_step, with_flag

T0 = datetime(2026, 11, 20, 15, 0, tzinfo=UTC)


def run(results: list[str | None]) -> dict[str, Any]:
    watch: dict[str, Any] = {}
    for minute, problem in enumerate(results, start=1):
        watch = watch_step(watch, problem, T0 + timedelta(minutes=minute))
    return watch


def test_sustained_after_the_healthy_period_of_consecutive_probes() -> None:
    assert not run([None] * HEALTHY_MINUTES)["sustained"]
    done = run([None] * (HEALTHY_MINUTES + 1))
    assert done["sustained"] and done["flaps"] == 0


def test_a_failed_probe_restarts_the_period_and_counts_a_flap() -> None:
    watch = run([None] * 10 + ["answered 503"] + [None] * HEALTHY_MINUTES)
    assert not watch["sustained"] and watch["flaps"] == 1
    assert watch_step(watch, None, T0 + timedelta(minutes=27))["sustained"]


def test_failures_before_any_healthy_probe_are_not_flaps() -> None:
    assert run(["unreachable"] * 3)["flaps"] == 0


def test_exhausted_without_a_sustained_period_within_the_watch() -> None:
    assert not run(["unreachable"] * (WATCH_MINUTES - 1))["exhausted"]
    assert run(["unreachable"] * (WATCH_MINUTES + 1))["exhausted"]


def test_with_flag_sets_the_value_and_declares_a_missing_flag() -> None:
    doc = {
        "version": "1",
        "flags": {"other": {"name": "other"}},
        "values": {"other": {"enabled": True}},
    }
    on = with_flag(doc, "fallbackMapper", True)
    assert on["values"] == {"other": {"enabled": True}, "fallbackMapper": {"enabled": True}}
    assert on["flags"]["fallbackMapper"] == {"name": "fallbackMapper"}
    assert "fallbackMapper" not in doc["values"], "the input document is not changed"
    assert with_flag(on, "fallbackMapper", False)["values"]["fallbackMapper"] == {"enabled": False}
