"""The guards in front of the battery workflows' actions (runbook 000 §5, E5-E7): the kill
switch and dry-run refuse the stop, the equalize and the E-Stop reset, and people are told;
an E-Stop nobody confirms within the gate's 24 h is escalated, never reset."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from selfheal_shared.core import guards

from local.runtime import Pipeline
from local.worlds import World, WorldSpec
from local.worlds.edge import EdgeSiteSpec
from tests.edge.conftest import EdgeWorld

E1 = "edge-cps-001"


@pytest.fixture
def p() -> Iterator[Pipeline]:
    """A pipeline with the edges registered and no broker: the events are put on the edge
    bus as the ingress would."""
    spec = WorldSpec(edgeSites=[EdgeSiteSpec(siteId="site-campinas", prefix="edge-cps", count=2)])
    pipeline = Pipeline(world=World(spec))
    pipeline.__enter__()
    yield pipeline
    pipeline.__exit__(None, None, None)


def alarm(p: Pipeline, kind: str) -> str:
    """The alarm's `Edge Alarm Changed` event on the edge bus; an E-Stop's own event is also
    in the edge registry first, as the ingress records it (runbook 000 §5c: its cause)."""
    from selfheal_shared.edge import edge_registry, edges

    at = p.clock.now()
    if kind == "EMERGENCY_STOP":
        body = {"alarm": kind, "state": "active", "ts": at.timestamp(), "reason": "from the BMS"}
        edge_registry.record_signal(edges.Signal(edgeId=E1, kind="alarm", payload=body))
    now = at.isoformat()
    detail = {
        "edgeId": E1,
        "siteId": "site-campinas",
        "alarm": kind,
        "state": "active",
        "severity": "P1",
        "reason": "from the BMS",
        "raisedAt": now,
        "at": now,
    }
    [arn] = p.put_event(
        {"source": "selfheal.edge", "detail-type": "Edge Alarm Changed", "detail": detail},
        bus="selfheal-edge",
    )
    return arn


def escalations(p: Pipeline) -> set[str]:
    return {n["level"] for n in p.notifications() if "ESCALATED" in str(n["subject"])} | {
        n["level"] for n in p.notifications() if "NOT_FIXED" in str(n["subject"])
    }


def test_the_kill_switch_refuses_the_over_temperature_stop_and_pages(p: Pipeline) -> None:
    """Runbook 000 §5a "Sistema já deve ter parado automaticamente": with the kill switch on,
    no stop is sent; the restart lock is still held and L1/L2 are paged."""
    from selfheal_shared.battery import battery

    guards.set_switch(guards.KILL_SWITCH, enabled=True, reason="incident review", actor="ana")
    arn = alarm(p, "OVER_TEMPERATURE")
    p.wait([arn])
    run = p.execution_summary(arn)

    assert run["states"][-2:] == ["EscalateNotStopped", "NotStopped"], run["states"]
    assert "Stop" not in run["states"]
    assert p.extensions.iot_published == []
    assert battery.restart_lock(E1) is not None
    assert {"l1", "l2"} <= escalations(p)
    [refused] = [a for a in run["actions"] if a["outcome"] == "SKIPPED_BY_GUARD"]
    assert "kill switch on: incident review" in refused["why"]


def test_dry_run_sends_no_equalize_and_says_what_it_would_do(edge_world: EdgeWorld) -> None:
    """Runbook 000 §5b "Executar equalização": under dry-run nothing is sent; L1 is told."""
    w = edge_world
    [sim] = w.start_edges([E1])
    sim.cells_mv = [3300, 3320, 3550, 3310]
    sim.publish_telemetry()
    w.settle()
    guards.set_switch(guards.DRY_RUN, enabled=True, reason="rehearsal", actor="ana")
    sim.raise_alarm("CELL_VOLTAGE_IMBALANCE", reason="BMS cell delta")
    [run] = w.ladders(finished=1, workflow="cell_imbalance")

    assert run["states"][-1] == "Skipped" and sim.commands == []
    [told] = [n for n in w.pipeline.notifications() if n["level"] == "l1"]
    assert "not equalized (dry_run)" in told["message"]["summary"]


def test_a_maintenance_window_sends_no_equalize_and_still_pages(edge_world: EdgeWorld) -> None:
    """Issue 19 (refusals.py): a maintenance window keeps automation out, it does not keep
    people uninformed: only an operator's silence holds the page."""
    from datetime import timedelta

    w = edge_world
    [sim] = w.start_edges([E1])
    sim.cells_mv = [3300, 3320, 3550, 3310]
    sim.publish_telemetry()
    w.settle()
    now = w.pipeline.clock.now()
    guards.set_maintenance(E1, starts=now, ends=now + timedelta(hours=2), reason="troca do BMS")
    sim.raise_alarm("CELL_VOLTAGE_IMBALANCE", reason="BMS cell delta")
    [run] = w.ladders(finished=1, workflow="cell_imbalance")

    assert run["states"][-1] == "Skipped" and sim.commands == []
    [told] = [n for n in w.pipeline.notifications() if n["level"] == "l1"]
    assert "not equalized (maintenance_window)" in told["message"]["summary"]


def answer(p: Pipeline, body: dict[str, Any]) -> None:
    from selfheal_shared.edge import edge_registry

    [incident] = p.parked().values()
    token = str((edge_registry.get(f"gate#{incident}") or {}).get("token", ""))
    p.client("stepfunctions").send_task_success(taskToken=token, output=json.dumps(body))


def test_the_kill_switch_refuses_an_approved_estop_reset(p: Pipeline) -> None:
    """Runbook 000 §5c: even approved, the reset is an action behind the kill switch."""
    arn = alarm(p, "EMERGENCY_STOP")
    p.wait([arn], until_parked=True)
    guards.set_switch(guards.KILL_SWITCH, enabled=True, reason="incident review", actor="ana")
    answer(p, {"confirmedSafe": True, "operator": "ana", "cause": "from the BMS"})
    p.wait([arn])
    run = p.execution_summary(arn)

    assert run["states"][-2:] == ["EscalateNotReset", "NotReset"], run["states"]
    assert "Reset" not in run["states"]
    assert p.extensions.iot_published == []
    assert "l1" in escalations(p)


@pytest.mark.procedure("E7", "never auto-reset: gather the cause")
def test_an_estop_nobody_confirms_in_24_hours_is_escalated_never_reset(p: Pipeline) -> None:
    """Runbook 000 §5c "NUNCA fazer reset sem identificar causa": the gate times out after
    24 h into an escalation to L1, L2 and L3; no reset is ever sent."""
    arn = alarm(p, "EMERGENCY_STOP")
    p.wait([arn], until_parked=True)
    p.clock.advance(25 * 3600)
    p.wait([arn])
    run = p.execution_summary(arn)

    assert run["status"] == "FAILED" and run["states"][-2:] == [
        "EscalateGateTimeout",
        "GateTimedOut",
    ], run["states"]
    assert p.extensions.iot_published == []
    timeout = [n for n in p.notifications() if "within 24 h" in str(n["message"].get("reason"))]
    assert {n["level"] for n in timeout} == {"l1", "l2", "l3"}


@pytest.mark.procedure("E9", "silence never suppresses a safety stop")
@pytest.mark.parametrize("quiet", ["silence", "maintenance window"])
def test_a_silence_never_holds_the_over_temperature_stop(p: Pipeline, quiet: str) -> None:
    """Issue 22 #3. Runbook 000 §6 "Silenciar alarme" holds pages and non-safety automation,
    never the stop of §5a: under a silence on the site (or a planned maintenance window, the
    same intent under another name) the stop is sent all the same (here no edge answers
    it, so it is not verified and the restart lock stays held)."""
    from selfheal_shared.battery import battery

    if quiet == "silence":
        guards.silence("site:site-campinas", minutes=60, reason="manutenção preventiva")
    else:
        now = p.clock.now()
        guards.set_maintenance(
            "site:site-campinas",
            starts=now - timedelta(minutes=5),
            ends=now + timedelta(hours=2),
            reason="manutenção preventiva",
        )
    arn = alarm(p, "OVER_TEMPERATURE")
    p.wait([arn])
    run = p.execution_summary(arn)

    assert run["states"].index("Stop") < run["states"].index("CheckStop"), run["states"]
    assert [t for t, _ in p.extensions.iot_published] == [f"lifo4/{E1}/commands/stop"]
    assert not [a for a in run["actions"] if a["outcome"] == "SKIPPED_BY_GUARD"]
    assert battery.restart_lock(E1) is not None
