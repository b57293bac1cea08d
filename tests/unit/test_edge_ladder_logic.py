"""The edge ladder's pure decisions (runbook 000 §1 causes, §6 severities) and the
fleet-wide restart budget."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from selfheal_shared.edge import edge_registry, edges

from local.runtime import Pipeline


def test_severity_is_p3_until_ten_minutes_then_p2_and_p1_stays() -> None:
    """Runbook 000 §6: "P2 - HIGH | < 1h | Edge offline > 10min"."""
    assert edges.severity("P3", 10.0) == "P3"
    assert edges.severity("P3", 10.01) == "P2"
    assert edges.severity("P1", 0) == "P1" and edges.severity("P1", 90) == "P1"
    assert edges.opening_severity("OVER_TEMPERATURE,LOW_SOC") == "P1"
    assert edges.opening_severity("") == edges.opening_severity(None) == "P3"


def test_next_page_counts_the_moment_p3_becomes_p2() -> None:
    sev, level, at = edges.next_page("P3", 2.5, [])
    assert (sev, level) == ("P3", None) and at == pytest.approx(10 + 1 / 60)
    assert edges.next_page("P3", 10.02, []) == ("P2", "l1", None)
    assert edges.next_page("P1", 0, []) == ("P1", "l1", None)
    assert edges.next_page("P1", 1, ["l1"])[1:] == (None, 15.0)


def test_page_override_is_per_severity() -> None:
    overrides = edges.parse_page_minutes("P3:l1=5; P2:l1=12,l2=20")
    assert overrides == {"P3": {"l1": 5}, "P2": {"l1": 12, "l2": 20}}
    assert edges.page_due("P3", 5, [], overrides) == ("l1", None)
    assert edges.page_due("P1", 0, [], overrides) == ("l1", None), "P1 keeps the runbook's"
    for bad in ("l1=10,l2=30", "P9:l1=1", "P2:l4=1", "P2:l1=ten"):
        with pytest.raises(ValueError, match="P2:l1=10"):
            edges.parse_page_minutes(bad)


def test_restart_cap_is_five_percent_of_the_fleet_and_at_least_one() -> None:
    assert edges.restart_cap(500, 5) == 25
    assert edges.restart_cap(7, 5) == 1
    assert edges.slot_wait([0.0, 10.0], 30.0, 3) == 0
    assert edges.slot_wait([0.0, 10.0, 20.0], 30.0, 3) == pytest.approx(30.0)
    assert edges.slot_wait([0.0, 10.0, 20.0], 61.0, 3) == 0, "the oldest left the window"


def site(*states: tuple[str, str]) -> list[dict[str, Any]]:
    return [{"state": s, "offlineSince": at} for s, at in states]


def test_a_site_is_silent_when_every_edge_went_silent_together() -> None:
    t0, t1, late = (
        "2026-11-20T15:00:00+00:00",
        "2026-11-20T15:01:00+00:00",
        "2026-11-21T15:00:00+00:00",
    )
    assert edges.site_silent(site(("offline", t0), ("offline", t1)), 2) == t1
    assert edges.site_silent(site(("offline", t0), ("autonomous", t1)), 2) == t1
    assert edges.site_silent(site(("offline", t0), ("online", t1)), 2) is None
    assert edges.site_silent(site(("offline", t0)), 2) is None, "one edge never reported"
    assert edges.site_silent(site(("offline", t0)), 1) is None, "one edge says nothing of its site"
    assert edges.site_silent(site(("offline", t0), ("offline", late)), 2) is None, "days apart"


@pytest.mark.parametrize(
    ("kwargs", "cause", "says"),
    [
        ({"online": True}, "back", "online again"),
        ({"probe": {"result": "ok", "detail": ""}}, "hung_process", "answered probe p-1"),
        (
            {"probe": {"result": "ok", "detail": "certificate_expired"}},
            "certificate_expired",
            "certificate_expired",
        ),
        ({"certificate": "expired"}, "certificate_expired", "last status reported"),
        ({"probe": {"result": "error", "detail": "partition_bad"}}, "partition_bad", "partition"),
        ({"probe": {"result": "error", "detail": "busy"}}, "undetermined", "busy"),
        ({}, "unreachable", "no answer to probe p-1"),
    ],
)
def test_diagnosis_names_the_cause_and_its_evidence(
    kwargs: dict[str, Any], cause: str, says: str
) -> None:
    """Runbook 000 §1 "Resolução": each cause from its evidence."""
    args: dict[str, Any] = {
        "online": False,
        "probe": None,
        "probe_id": "p-1",
        "certificate": "unknown",
        "partition": "unknown",
        "site_online": 2,
        "site_size": 4,
        **kwargs,
    }
    got, evidence = edges.diagnose(**args)
    assert got == cause
    assert any(says in e for e in evidence)


def test_hardware_needs_a_silent_box_on_a_working_site_for_long_enough() -> None:
    assert edges.hardware_evidence("unreachable", 0.5, 3, 30) is None, "not after 30 s"
    assert edges.hardware_evidence("unreachable", 31, 0, 30) is None, "site network unknown"
    assert edges.hardware_evidence("hung_process", 31, 3, 30) is None, "the agent answers"
    assert "3 other edge(s)" in str(edges.hardware_evidence("unreachable", 31, 3, 30))


def test_the_restart_budget_holds_both_caps_under_a_race(pipeline: Pipeline) -> None:
    """Forty ladders asking at once get exactly the sliding cap; a minute boundary does
    not reset the sliding 60 s window; after it, slots come back."""
    granted: list[float] = []
    lock = threading.Lock()
    start = threading.Barrier(40)

    def ask() -> None:
        start.wait(timeout=30)
        wait = edge_registry.take_restart_slot(10, 5)
        with lock:
            granted.append(wait)

    with pipeline.clock.held():
        pipeline.clock.advance(50)  # 15:00:50: ten seconds before a clock minute
        threads = [threading.Thread(target=ask) for _ in range(40)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        assert sorted(granted)[:6] == [0, 0, 0, 0, 0, 60]
        assert granted.count(0) == 5
        pipeline.clock.advance(15)  # 15:01:05: a new clock minute, same sliding window
        assert edge_registry.take_restart_slot(10, 5) == pytest.approx(45)
        pipeline.clock.advance(45)  # 15:01:50: the first five left the window
        assert [edge_registry.take_restart_slot(10, 5) for _ in range(6)][:5] == [0] * 5
        assert edge_registry.take_restart_slot(10, 5) > 0


def test_the_per_minute_cap_queues_until_the_next_minute(pipeline: Pipeline) -> None:
    with pipeline.clock.held():
        assert [edge_registry.take_restart_slot(2, 25) for _ in range(2)] == [0, 0]
        assert edge_registry.take_restart_slot(2, 25) == pytest.approx(60)
        pipeline.clock.advance(60)
        assert edge_registry.take_restart_slot(2, 25) == 0
