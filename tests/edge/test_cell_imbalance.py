"""Cell voltage imbalance (runbook 000 §5b, catalog E6) end to end: the edge raises
CELL_VOLTAGE_IMBALANCE on `lifo4/{edgeId}/alarms` over the real broker, the IoT rule path
puts it on the edge bus, and the `cell_imbalance` workflow reads the cells, equalizes over
MQTT when the delta is above 200 mV and verifies that it fell."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest

from local.worlds.edge import EdgeSim
from tests.edge.conftest import EdgeWorld

E1 = "edge-cps-001"
UNBALANCED = [3300, 3320, 3550, 3310]  # delta 250 mV
WITHIN = [3300, 3320, 3450, 3310]  # delta 150 mV
#: The workflow's wait for the equalization (600 s) and a minute more.
VERIFY_SECONDS = 11 * 60


def imbalance(w: EdgeWorld, cells: list[int], **status: Any) -> tuple[EdgeSim, dict[str, Any]]:
    """E1 reports `cells` (and `status` extras), then raises the alarm; the workflow's run."""
    [sim] = w.start_edges([E1])
    sim.cells_mv = cells
    if status:
        sim.publish_status("online", **status)
    sim.publish_telemetry()
    w.settle()
    with w.pipeline.clock.held():  # the edge goes on reporting through the verification
        w.reporting(sim, seconds=VERIFY_SECONDS)
        sim.raise_alarm("CELL_VOLTAGE_IMBALANCE", reason="BMS cell delta")
    [run] = w.ladders(finished=1, workflow="cell_imbalance")
    return sim, run


def steps(w: EdgeWorld) -> list[tuple[str, Any]]:
    return [
        (r["action"], r.get("outcome"))
        for r in w.pipeline.audit_records()
        if str(r["incidentId"]).startswith("cell_imbalance-")
    ]


@pytest.mark.procedure("E6", "delta above 200 mV: equalize and verify")
def test_a_250_mv_delta_is_equalized_and_verified(edge_world: EdgeWorld) -> None:
    """Runbook 000 §5b: "Se delta > 200mV entre células: → Executar equalização"; P1 pages
    L1 at once (§6: P1 CRITICAL "< 15 min")."""
    w = edge_world
    sim, run = imbalance(w, UNBALANCED)

    assert run["status"] == "SUCCEEDED" and run["states"][-1] == "Equalized", run["states"]
    assert [c["command"] for c in sim.commands] == ["equalize"]
    assert w.commands_sent() == [f"lifo4/{E1}/commands/equalize"]
    done = steps(w)
    assert ("page_l1", "ESCALATED") in done
    assert ("edge_equalize", None) in done and ("equalize_verified", "FIXED") in done
    assert done.index(("page_l1", "ESCALATED")) < done.index(("edge_equalize", None))
    fixed = [n for n in w.pipeline.notifications() if n["message"].get("outcome") == "FIXED"]
    assert sorted(n["level"] for n in fixed) == ["l1", "ops"]
    assert "250 -> 25 mV" in fixed[0]["message"]["summary"]


@pytest.mark.procedure("E6", "delta within limits: no command")
def test_a_150_mv_delta_is_recorded_and_closed_without_a_command(edge_world: EdgeWorld) -> None:
    """Runbook 000 §5b: only "Se delta > 200mV entre células" calls for equalization."""
    w = edge_world
    sim, run = imbalance(w, WITHIN)

    assert run["status"] == "SUCCEEDED" and run["states"][-1] == "WithinLimits"
    assert sim.commands == [] and w.commands_sent() == []
    assert ("cells_read", None) in steps(w)
    assert not [n for n in w.pipeline.notifications() if n["level"] in ("l1", "l2", "l3")]
    [told] = [n for n in w.pipeline.notifications() if n["level"] == "ops"]
    assert told["message"]["outcome"] == "NO_ACTION_NEEDED", "within limits: no guard refused"


@pytest.mark.procedure("E6", "restart lock or E-Stop active: never equalize")
def test_no_equalization_under_a_restart_lock(edge_world: EdgeWorld) -> None:
    """Issue 11 item 3: never equalize a system under a restart lock (runbook 000 §5a "NÃO
    religar até normalizar temperatura"); the open imbalance goes to L1 instead."""
    from selfheal_shared.battery import battery
    from selfheal_shared.edge import edge_registry

    w = edge_world
    with w.pipeline.clock.held():
        edge_registry.update(
            battery.lock_key(E1),
            {"state": "held", "since": w.pipeline.clock.now().isoformat(), "reason": "56 C"},
        )
    sim, run = imbalance(w, UNBALANCED)

    assert run["status"] == "FAILED" and run["states"][-1] == "NotEqualized"
    assert sim.commands == [] and w.commands_sent() == []
    [page] = [n for n in w.pipeline.notifications() if n["level"] == "l1"]
    assert "restart lock held" in page["message"]["reason"]


@pytest.mark.procedure("E6", "restart lock or E-Stop active: never equalize")
def test_no_equalization_while_an_emergency_stop_is_active(edge_world: EdgeWorld) -> None:
    """Runbook 000 §5c "NUNCA fazer reset sem identificar causa": a system in E-Stop is not
    sent a command that would run it."""
    w = edge_world
    sim, run = imbalance(w, UNBALANCED, alarms=["EMERGENCY_STOP"])

    assert run["status"] == "FAILED" and run["states"][-1] == "NotEqualized"
    assert sim.commands == [] and w.commands_sent() == []


def test_a_bad_alarm_message_is_named_kept_and_starts_nothing(edge_world: EdgeWorld) -> None:
    """Bad input gets an error naming the field, is kept, and never acts."""
    w = edge_world
    w.start_edges([E1])
    w.publish(f"lifo4/{E1}/alarms", '{"alarm": "CELL_VOLTAGE_IMBALANCE", "ts": -1}')
    w.publish(f"lifo4/{E1}/alarms", '{"alarm": "MELTDOWN", "ts": 1}')
    w.settle()

    errors = [e for t, e in w.bridge.rejected if t.endswith("/alarms")]
    assert len(errors) == 2 and "ts" in errors[0] and "alarm" in errors[1]
    kept = [r for r in w.pipeline.audit_records() if r["action"] == "ingress_rejected"]
    assert len(kept) == 2
    assert w.ladders(finished=0, workflow="cell_imbalance") == []
    assert w.commands_sent() == []


@pytest.mark.procedure("E6", "delta did not fall after equalizing: escalate")
def test_an_equalization_the_cells_do_not_confirm_is_escalated_not_fixed(
    edge_world: EdgeWorld,
) -> None:
    """Issue 11 item 3: "verify that the delta falls": an acknowledged command with no
    reading showing it is not FIXED."""
    w = edge_world
    [sim] = w.start_edges([E1])
    sim.equalize_seconds = 3 * 3600  # the balancing never shows within the wait
    sim.cells_mv = UNBALANCED
    sim.publish_telemetry()
    w.settle()
    sim.raise_alarm("CELL_VOLTAGE_IMBALANCE")
    [run] = w.ladders(finished=1, workflow="cell_imbalance")

    assert run["status"] == "FAILED" and run["states"][-1] == "NotFixed"
    assert ("equalize_not_verified", "NOT_FIXED") in steps(w)
    assert not [n for n in w.pipeline.notifications() if n["message"].get("outcome") == "FIXED"]
    assert {n["level"] for n in w.pipeline.notifications()} >= {"l1", "l2"}


@pytest.mark.procedure("E6", "stale cell readings: cannot confirm, paged, not closed")
def test_cell_readings_three_hours_old_cannot_confirm_and_are_paged_not_closed(
    edge_world: EdgeWorld,
) -> None:
    """Issue 22 #2. Runbook 000 §5b "Ver detalhes de células": cells read three hours ago
    (within limits then) say nothing about them now. Older than the reporting bound
    (runbook 000 §1 "> 30s sem dados") they cannot confirm the P1 is over: L1 is paged
    (§6: P1 "< 15 min") and the incident is not closed."""
    w = edge_world
    [sim] = w.start_edges([E1])
    sim.cells_mv = WITHIN
    sim.publish_telemetry()
    w.settle()
    with w.pipeline.clock.held():
        w.pipeline.clock.advance(3 * 3600)
    sim.cells_mv = UNBALANCED  # what the cells are now; no telemetry says so
    sim.raise_alarm("CELL_VOLTAGE_IMBALANCE", reason="BMS cell delta")
    [run] = w.ladders(finished=1, workflow="cell_imbalance")

    assert run["status"] == "FAILED" and run["states"][-1] == "NotEqualized", run["states"]
    assert "WithinLimits" not in run["states"] and sim.commands == []
    [read] = [r for r in w.pipeline.audit_records() if r["action"] == "cells_read"]
    assert "cannot confirm" in read["result"] and "10800 s old (stale" in read["result"]
    assert [n["level"] for n in w.pages()] == ["l1"]
    assert "cannot confirm the cells" in w.pages()[0]["message"]["reason"]
    closed = [n for n in w.pipeline.notifications() if n["message"].get("outcome")]
    assert not [n for n in closed if n["message"]["outcome"] in ("NO_ACTION_NEEDED", "FIXED")]


@pytest.mark.procedure("E9", "silenced P1 resumes when the silence ends")
@pytest.mark.procedure("E9", "silence scoped to an alarm is honoured")
@pytest.mark.procedure("E6", "delta above 200 mV: equalize and verify")
def test_a_silenced_imbalance_resumes_when_the_silence_ends_re_reads_and_equalizes(
    edge_world: EdgeWorld,
) -> None:
    """Issue 22 #3. Runbook 000 §6 "Silenciar alarme (manutenção programada)": while the
    silence lasts, no page and no equalize; it does not end the incident: when it expires
    the cells are read again (fresh) and §5b goes on: page L1, equalize, verify."""
    w = edge_world
    arn = w.pipeline.start_manual(
        "edge_silence",
        {
            "scope": f"alarm:{E1}:CELL_VOLTAGE_IMBALANCE",
            "durationMinutes": 60,
            "reason": "manutenção programada",
        },
    )
    w.pipeline.wait([arn])
    ends = w.pipeline.clock.now() + timedelta(minutes=60)
    [sim] = w.start_edges([E1])
    sim.cells_mv = UNBALANCED
    sim.publish_telemetry()
    w.settle()
    with w.pipeline.clock.held():  # reporting from a minute before the silence ends
        w.reporting(sim, start=59 * 60, seconds=VERIFY_SECONDS + 60)
        sim.raise_alarm("CELL_VOLTAGE_IMBALANCE", reason="BMS cell delta")
    [run] = w.ladders(finished=1, workflow="cell_imbalance")

    assert run["status"] == "SUCCEEDED" and run["states"][-1] == "Equalized", run["states"]
    assert run["states"].index("WhileSilenced") < run["states"].index("Equalize")
    [equalize] = sim.commands
    assert datetime.fromisoformat(equalize["issuedAt"]) >= ends, "nothing while silenced"
    recs = [r for r in w.pipeline.audit_records() if r["incidentId"].startswith("cell_imb")]
    [held, resumed] = [r for r in recs if r["action"] == "cells_read"]
    assert held["outcome"] == "SKIPPED_BY_GUARD" and "silenced on alarm:" in held["result"]
    assert datetime.fromisoformat(resumed["at"]) >= ends
    assert "equalization due" in resumed["result"], "decided from the reading taken then"
    [page] = [r for r in recs if r["action"] == "page_l1"]
    assert page["outcome"] == "ESCALATED" and datetime.fromisoformat(page["at"]) >= ends
    assert ("equalize_verified", "FIXED") in steps(w)
