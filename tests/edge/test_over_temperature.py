"""Over-temperature > 50 °C (runbook 000 §5a, catalog E5) end to end over the real broker:
the edge raises OVER_TEMPERATURE on `lifo4/{edgeId}/alarms`; the workflow holds a restart
lock, confirms the stop (or stops the system and verifies it), pages maintenance, and
releases the lock only after telemetry shows a sustained safe temperature."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest

from local.worlds.edge import EdgeSim
from tests.edge.conftest import EdgeWorld

E1 = "edge-cps-001"
SITE = "site-campinas"


def cooling(w: EdgeWorld, sim: EdgeSim, temps: list[float], every_min: int = 5) -> None:
    """The edge's telemetry every `every_min` virtual minutes, one temperature each."""
    for n, temp in enumerate(temps, start=1):

        def report(t: float = temp) -> None:
            sim.temperature_c = t
            if sim.connected.is_set():  # not once the test has stopped the edge
                sim.publish_telemetry()

        w.pipeline.clock.call_later(n * every_min * 60, report)


def command(w: EdgeWorld, name: str) -> dict[str, Any]:
    """The ladder's edge_command, as a later restart / OTA attempt would call it."""
    handler = w.pipeline.lambdas.handler_for("edge_command")
    incident = {
        "incidentId": "edge_offline_ladder-test",
        "executionId": "manual",
        "edgeId": E1,
        "siteId": SITE,
        "offlineSince": w.pipeline.clock.now().isoformat(),
    }
    try:
        return dict(handler({"incident": incident, "command": name}, None))
    except Exception as exc:  # the refusal, as the workflow would catch it
        return {"error": type(exc).__name__, "message": str(exc)}


def overheat(w: EdgeWorld, *, power_kw: float, temps: list[float], attempts: list[Any]) -> Any:
    [sim] = w.start_edges([E1])
    sim.power_kw, sim.temperature_c = power_kw, 56.0
    sim.publish_telemetry()
    w.settle()
    with w.pipeline.clock.held():  # the timers and the alarm start at the same instant
        cooling(w, sim, temps)
        start = w.pipeline.clock.now()
        for minutes, name in [(25, "restart"), (26, "ota-rollback")]:
            w.pipeline.clock.call_later(
                minutes * 60, lambda n=name: attempts.append((n, command(w, n)))
            )
        sim.raise_alarm("OVER_TEMPERATURE", reason="56 C")
    [run] = w.ladders(finished=1, workflow="over_temperature", timeout=600)
    return sim, run, start


def records(w: EdgeWorld) -> list[dict[str, Any]]:
    return [r for r in w.pipeline.audit_records() if str(r["incidentId"]).startswith("over_temp")]


#: 47 °C at minute 15 breaks the normal run: the count starts again at minute 20.
TEMPS = [44.0, 44.0, 47.0] + [43.0] * 21


@pytest.mark.procedure("E5", "system running: stop")
@pytest.mark.procedure("E5", "page maintenance")
@pytest.mark.procedure("E5", "restart locked until temperature is normal")
def test_a_running_system_is_stopped_locked_and_released_after_sustained_normal_temperature(
    edge_world: EdgeWorld,
) -> None:
    """Runbook 000 §5a: "Sistema já deve ter parado automaticamente" (it had not: stop and
    verify); "Se refrigeração falhou: → Acionar manutenção preventiva → NÃO religar até
    normalizar temperatura"."""
    w = edge_world
    attempts: list[Any] = []
    sim, run, start = overheat(w, power_kw=12.5, temps=TEMPS, attempts=attempts)

    assert run["status"] == "SUCCEEDED" and run["states"][-1] == "LockReleased", (
        run["states"],
        [(r["action"], r["result"]) for r in records(w)],
    )
    assert [c["command"] for c in sim.commands] == ["stop"], "stopped, never restarted"
    done = [(r["action"], r.get("outcome")) for r in records(w)]
    order = [a for a, _ in done if not a.endswith("_intent")]
    assert order.index("restart_lock_held") < order.index("edge_stop")
    assert order.index("stop_verified") < order.index("page_maintenance")
    assert ("restart_lock_released", "FIXED") in done
    [page] = [n for n in w.pipeline.notifications() if n["message"].get("maintenance")]
    assert page["level"] == "l1"
    # The lock held against a later restart and an OTA rollback (queued / refused).
    assert dict(attempts)["restart"]["queued"] is True
    assert dict(attempts)["ota-rollback"]["error"] == "GuardRefused"
    refused = [
        r for r in w.pipeline.audit_records() if r.get("details", "").find("restart_lock") >= 0
    ]
    assert len(refused) == 2
    # Released only after 30 min below 45 °C counted from the last reading above it (min 15).
    [released] = [r for r in records(w) if r["action"] == "restart_lock_released"]
    assert datetime.fromisoformat(released["at"]) >= start + timedelta(minutes=15 + 30)
    summary = [n for n in w.pipeline.notifications() if n["message"].get("outcome") == "FIXED"]
    assert "restart lock released" in summary[0]["message"]["summary"]
    # After the release a restart is no longer refused by the lock.
    assert command(w, "restart").get("commandId")


@pytest.mark.procedure("E5", "system already stopped: confirm")
def test_a_system_already_stopped_is_confirmed_not_commanded(edge_world: EdgeWorld) -> None:
    """Runbook 000 §5a: "Sistema já deve ter parado automaticamente": no power flow in the
    telemetry is the confirmation; no stop command is sent."""
    w = edge_world
    attempts: list[Any] = []
    sim, run, _ = overheat(w, power_kw=0.0, temps=[43.0] * 12, attempts=attempts)

    assert run["status"] == "SUCCEEDED" and run["states"][-1] == "LockReleased"
    assert "Stop" not in run["states"] and sim.commands == []
    [read] = [r for r in records(w) if r["action"] == "telemetry_read"]
    assert "system already stopped" in read["result"]
    assert dict(attempts)["restart"]["queued"] is True
