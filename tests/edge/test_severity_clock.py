"""Runbook 000 §6 "Níveis de severidade" end to end: each severity pages on its own clock
(`severity.py`), a P4 is a ticket for the next business day in the site's time zone with
the national holidays skipped, and silences on an alarm, a system or a site suppress
automation and paging, then expire by themselves."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from local.runtime import Pipeline
from local.worlds import World, WorldSpec
from local.worlds.edge import EdgeSim, EdgeSiteSpec
from tests.edge.conftest import EdgeWorld

E1 = "edge-cps-001"


def minutes_after(w: EdgeWorld, start: datetime, alarm: str) -> list[tuple[str, float]]:
    return [
        (n["level"], (datetime.fromisoformat(n["message"]["at"]) - start).total_seconds() / 60)
        for n in w.pages()
        if n["message"].get("alarm") == alarm
    ]


def raise_and_respond(
    w: EdgeWorld, alarm: str, *, clear_after_min: float | None = None
) -> tuple[EdgeSim, dict[str, Any], datetime]:
    [sim] = w.start_edges([E1])
    with w.pipeline.clock.held():  # the timer and the alarm start at the same instant
        start = w.pipeline.clock.now()
        if clear_after_min is not None:
            w.pipeline.clock.call_later(
                clear_after_min * 60,
                lambda: sim.raise_alarm(alarm, "cleared", reason="back to normal"),
            )
        sim.raise_alarm(alarm, reason="from the BMS")
    [run] = w.ladders(finished=1, workflow="battery_alarm", timeout=600)
    return sim, run, start


def record(w: EdgeWorld, action: str) -> dict[str, Any]:
    [rec] = [r for r in w.pipeline.audit_records() if r["action"] == action]
    return rec


@pytest.mark.procedure("E9", "P2 within 1 h")
def test_a_p2_soc_critical_alarm_pages_l1_l2_l3_at_10_30_60_minutes(
    edge_world: EdgeWorld,
) -> None:
    """Runbook 000 §6: "P2 - HIGH | < 1h | Edge offline > 10min, SOC crítico"."""
    w = edge_world
    _, run, start = raise_and_respond(w, "SOC_CRITICAL")

    assert run["error"] == "selfheal.Escalated" and "Ticket" not in run["states"]
    pages = minutes_after(w, start, "SOC_CRITICAL")
    assert [lvl for lvl, _ in pages] == ["l1", "l2", "l3"]
    for (_, at), due in zip(pages, (10, 30, 60), strict=True):
        assert due <= at < due + 0.5, pages
    opened = record(w, "alarm_recorded")
    assert f"respond by {(start + timedelta(hours=1)).isoformat()}" in opened["result"]
    assert all(
        n["subject"].startswith("[selfheal] P2 edge-cps-001 SOC_CRITICAL")
        for n in [p for p in w.pages() if p["message"].get("alarm")]
    )


@pytest.mark.procedure("E9", "P3 within 4 h")
def test_a_p3_alarm_pages_l1_at_one_hour_and_l2_at_four_and_stops_when_cleared(
    edge_world: EdgeWorld,
) -> None:
    """Runbook 000 §6: "P3 - MEDIUM | < 4h | Latência alta, MQTT instável". Cleared at
    2 h: L1 was paged at 1 h, L2 never is; ops are told it cleared."""
    w = edge_world
    _, run, start = raise_and_respond(w, "HIGH_LATENCY", clear_after_min=120)

    assert minutes_after(w, start, "HIGH_LATENCY")[0][0] == "l1"
    [(_, at)] = minutes_after(w, start, "HIGH_LATENCY")
    assert 60 <= at < 60.5
    cleared = record(w, "alarm_cleared")
    assert "HIGH_LATENCY cleared by edge-cps-001" in cleared["why"]
    assert "paged: l1" in cleared["result"]
    [told] = [n for n in w.pipeline.notifications() if n["level"] == "ops"]
    assert "cleared" in told["message"]["reason"]
    assert run["error"] == "selfheal.Escalated"


@pytest.fixture
def thursday_night() -> Iterator[Pipeline]:
    """Thursday 19 Nov 2026, 22:00 UTC = 19:00 in São Paulo: the next day, Friday 20 Nov, is
    a national holiday (Dia Nacional de Zumbi e da Consciência Negra)."""
    spec = WorldSpec(edgeSites=[EdgeSiteSpec(siteId="site-campinas", prefix="edge-cps", count=2)])
    p = Pipeline(world=World(spec), start=datetime(2026, 11, 19, 22, 0, tzinfo=UTC))
    p.__enter__()
    yield p
    p.__exit__(None, None, None)


@pytest.mark.procedure("E9", "P4 next business day")
def test_a_p4_alarm_is_a_ticket_for_the_next_business_day_not_a_page(
    thursday_night: Pipeline,
) -> None:
    """Runbook 000 §6: "P4 - LOW | Próximo dia útil | Warning de manutenção". Raised on a
    Thursday evening before a national holiday: due Monday 09:00 in the site's time zone,
    nobody paged."""
    p = thursday_night
    event = {
        "source": "selfheal.edge",
        "detail-type": "Edge Alarm Changed",
        "detail": {
            "edgeId": E1,
            "siteId": "site-campinas",
            "alarm": "MAINTENANCE_WARNING",
            "state": "active",
            "severity": "P4",
            "reason": "fan filter due",
            "raisedAt": p.clock.now().isoformat(),
            "at": p.clock.now().isoformat(),
        },
    }
    [arn] = p.put_event(event, bus="selfheal-edge")
    p.wait([arn], timeout=120)
    run = p.execution_summary(arn)

    assert run["states"][-2:] == ["Ticket", "Responded"], run["states"]
    [ticket] = p.notifications()
    assert ticket["level"] == "ops" and ticket["subject"].startswith("[selfheal] P4 battery_alarm")
    assert "respond by 2026-11-23T09:00:00-03:00 (America/Sao_Paulo)" in ticket["message"]["reason"]
    assert "nobody paged" in ticket["message"]["reason"]


def silence(w: EdgeWorld, scope: str, minutes: int) -> datetime:
    """An operator's silence `{durationMinutes, reason}` (runbook 000 §6); when it ends."""
    arn = w.pipeline.start_manual(
        "edge_silence",
        {"scope": scope, "durationMinutes": minutes, "reason": "manutenção preventiva"},
    )
    w.pipeline.wait([arn])
    return w.pipeline.clock.now() + timedelta(minutes=minutes)


@pytest.mark.procedure("E9", "silence suppresses automation and paging")
def test_a_silenced_alarm_pages_nobody_and_after_expiry_the_next_one_pages(
    edge_world: EdgeWorld,
) -> None:
    """Runbook 000 §6 "Silenciar alarme (manutenção programada)": `{"durationMinutes": 60,
    "reason": "manutenção preventiva"}` on one alarm. While it lasts the SOC_CRITICAL page
    due at 10 min is suppressed; it expires by itself, and the next SOC_CRITICAL pages."""
    w = edge_world
    [sim] = w.start_edges([E1])
    ends = silence(w, f"alarm:{E1}:SOC_CRITICAL", 60)
    clock = w.pipeline.clock
    with clock.held():  # the timers and the alarm start at the same instant
        start = clock.now()
        clock.call_later(20 * 60, lambda: sim.raise_alarm("SOC_CRITICAL", "cleared"))
        clock.call_later(61 * 60, lambda: sim.raise_alarm("SOC_CRITICAL", reason="SOC 3 %"))
        sim.raise_alarm("SOC_CRITICAL", reason="SOC 4 %")
    runs = w.ladders(finished=2, workflow="battery_alarm", timeout=600)

    assert all(r["error"] == "selfheal.Escalated" for r in runs)
    [suppressed] = [r for r in w.pipeline.audit_records() if r["result"] == "page to l1 suppressed"]
    assert suppressed["outcome"] == "SKIPPED_BY_GUARD" and "silenced on alarm:" in suppressed["why"]
    pages = minutes_after(w, start, "SOC_CRITICAL")
    assert all(datetime.fromisoformat(p["message"]["at"]) >= ends for p in w.pages())
    assert [lvl for lvl, _ in pages] == ["l1", "l2", "l3"]
    assert 71 <= pages[0][1] < 71.5, "10 min after the second alarm, the silence over"


@pytest.mark.procedure("E9", "silence suppresses automation and paging")
@pytest.mark.procedure("E6", "delta above 200 mV: equalize and verify")
def test_a_silenced_system_is_not_equalized_nor_paged_until_the_silence_expires(
    edge_world: EdgeWorld,
) -> None:
    """Runbook 000 §6: a silence on a system (the edge) holds automation and paging for it,
    not the incident: when it expires the cells are read again and §5b "Executar
    equalização" goes on (issue 22 #3)."""
    w = edge_world
    [sim] = w.start_edges([E1])
    sim.cells_mv = [3300, 3320, 3550, 3310]
    sim.publish_telemetry()
    w.settle()
    ends = silence(w, E1, 30)
    with w.pipeline.clock.held():  # the edge reports from a minute before the silence ends
        w.reporting(sim, start=29 * 60, seconds=12 * 60)
        sim.raise_alarm("CELL_VOLTAGE_IMBALANCE", reason="BMS cell delta")
    [run] = w.ladders(finished=1, workflow="cell_imbalance", timeout=600)

    assert run["states"][-1] == "Equalized" and "WhileSilenced" in run["states"], run["states"]
    [equalize] = sim.commands
    assert datetime.fromisoformat(equalize["issuedAt"]) >= ends
    assert all(datetime.fromisoformat(p["message"]["at"]) >= ends for p in w.pages())
    page = w.pages()[0]
    assert page["level"] == "l1" and page["subject"].startswith("[selfheal] P1 edge-cps-001 cell")
    held, *_ = [r for r in w.pipeline.audit_records() if r["action"] == "cells_read"]
    assert held["outcome"] == "SKIPPED_BY_GUARD" and "silenced on edge-cps-001" in held["result"]
