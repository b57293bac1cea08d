"""Cell failure (runbook 000 §6 "P1 - CRITICAL | < 15 min | Over-temp, E-Stop, Cell
failure") end to end over the real broker and from CloudWatch: the runbook gives it a
severity and no procedure, so it is recorded and paged on the P1 clock with the cells read
as the imbalance workflow reads them, fresh readings only; nothing is sent to the edge."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

import pytest

from tests.edge.conftest import EdgeWorld
from tests.edge.test_alarm_intake import cloudwatch_alarm

E1 = "edge-cps-001"
CELLS = [3300, 3310, 2100, 3305]


def cell_pages(w: EdgeWorld) -> list[dict[str, Any]]:
    return [n for n in w.pages() if n["message"].get("alarm") == "CELL_FAILURE"]


def minutes(page: dict[str, Any], start: datetime) -> float:
    return (datetime.fromisoformat(page["message"]["at"]) - start).total_seconds() / 60


@pytest.mark.procedure("E9", "P1 within 15 min")
@pytest.mark.procedure("E9", "cell failure: P1 page with fresh cell readings, no action")
def test_a_cell_failure_pages_p1_at_once_with_the_fresh_cells_and_sends_nothing(
    edge_world: EdgeWorld,
) -> None:
    """Runbook 000 §6: a cell failure is P1 ("< 15 min"): L1 at once, then L2 at 15 and L3
    at 30 minutes while it stays active. The first page carries the cells the edge read
    with the alarm; by 15 minutes that reading is stale and the page says so instead of
    sending it. No equalize nor any other command: the runbook gives a cell failure none."""
    w = edge_world
    [sim] = w.start_edges([E1])
    sim.cells_mv = CELLS
    with w.pipeline.clock.held():  # the reading, the alarm and the P1 clock start together
        start = w.pipeline.clock.now()
        sim.publish_telemetry()
        sim.raise_alarm("CELL_FAILURE", reason="BMS: cell 3 open circuit")
    [run] = w.ladders(finished=1, workflow="battery_alarm", timeout=120)

    assert run["error"] == "selfheal.Escalated", run
    pages = cell_pages(w)
    assert [p["level"] for p in pages] == ["l1", "l2", "l3"]
    for page, due in zip(pages, (0, 15, 30), strict=True):
        assert due <= minutes(page, start) < due + 0.5, [minutes(p, start) for p in pages]
        assert page["message"]["severity"] == "P1"
    first = pages[0]["message"]["cells"]
    assert first["fresh"] is True and first["cellsMv"] == CELLS and first["deltaMv"] == 1210
    assert "1210 mV" in pages[0]["message"]["summary"]
    later = pages[1]["message"]["cells"]
    assert later["fresh"] is False and later["cellsMv"] == []
    assert "no fresh cell reading" in pages[1]["message"]["summary"]
    [opened] = [r for r in w.pipeline.audit_records() if r["action"] == "alarm_recorded"]
    assert f"respond by {(start + timedelta(minutes=15)).isoformat()}" in opened["result"]
    [read] = [r for r in w.pipeline.audit_records() if r["action"] == "cells_read"]
    assert json.loads(read["details"])["cellsMv"] == CELLS
    assert sim.commands == [] and w.commands_sent() == []


@pytest.mark.procedure("E9", "cell failure: P1 page with fresh cell readings, no action")
def test_a_cloudwatch_cell_failure_alarm_is_taken_and_paged_p1_without_a_stale_reading(
    edge_world: EdgeWorld,
) -> None:
    """The intake takes a `CELL_FAILURE` CloudWatch alarm (runbook 000 §6 lists it as P1)
    and hands it on like the edge's own; the edge's last cells are an hour old, so every
    page says there is no fresh reading rather than sending old values."""
    w = edge_world
    [sim] = w.start_edges([E1])
    sim.cells_mv = CELLS
    sim.publish_telemetry()
    w.settle()
    w.pipeline.clock.advance(3600)
    cloudwatch_alarm(w, {"EdgeId": E1, "AlarmType": "CELL_FAILURE"})
    [run] = w.ladders(finished=1, workflow="battery_alarm", timeout=120)

    [intake] = w.ladders(finished=1, workflow="edge_alarm_intake", timeout=120)
    assert intake["status"] == "SUCCEEDED" and intake["states"][-1] == "HandedOn"
    pages = cell_pages(w)
    assert [p["level"] for p in pages] == ["l1", "l2", "l3"], pages
    assert {p["message"]["severity"] for p in pages} == {"P1"}
    assert all(p["message"]["cells"]["fresh"] is False for p in pages)
    assert all("no fresh cell reading" in p["message"]["summary"] for p in pages)
    assert run["error"] == "selfheal.Escalated"
    assert sim.commands == [] and w.commands_sent() == []
