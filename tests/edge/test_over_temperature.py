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
    """The edge's telemetry every 20 virtual seconds (a live edge reports at least every
    30 s); from minute `every_min` on, its temperature is one of `temps` for each
    `every_min` minutes in turn."""

    def temperature(at: float) -> None:
        if (n := int(at // (every_min * 60))) >= 1:
            sim.temperature_c = temps[min(n - 1, len(temps) - 1)]

    w.reporting(sim, seconds=(len(temps) + 1) * every_min * 60, before=temperature)


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
TEMPS = [44.0, 44.0, 47.0] + [43.0] * 9


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
    # Runbook 000 §6 P1 "< 15 min", nobody acknowledging: L1 at once, then the page chain's
    # watcher pages L2 at 15 and L3 at 30 minutes from the alarm, each delivered once; the
    # release resolves the chain: one resolve to each level paged.
    pages = [n for n in w.pages() if n["message"].get("kind") == "page"]
    assert [p["level"] for p in pages] == ["l1", "l2", "l3"], pages
    assert all(p["message"]["maintenance"] for p in pages)
    assert {p["message"]["dedupKey"] for p in pages} == {pages[0]["message"]["incidentId"]}
    after = [datetime.fromisoformat(p["message"]["at"]) - start for p in pages]
    assert after[0] < timedelta(minutes=2)
    assert after[1:] == [timedelta(minutes=15), timedelta(minutes=30)], after
    resolves = [n for n in w.pipeline.notifications() if n["message"].get("kind") == "resolve"]
    assert sorted(r["level"] for r in resolves) == ["l1", "l2", "l3"]
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


def silence(w: EdgeWorld, scope: str, minutes: int) -> datetime:
    """The operator's silence `{durationMinutes, reason}` through its workflow (runbook 000
    §6 "Silenciar alarme (manutenção programada)"); returns when it ends."""
    arn = w.pipeline.start_manual(
        "edge_silence",
        {"scope": scope, "durationMinutes": minutes, "reason": "manutenção programada"},
    )
    w.pipeline.wait([arn])
    return w.pipeline.clock.now() + timedelta(minutes=minutes)


@pytest.mark.procedure("E5", "stale reading: cannot confirm, paged, not closed")
def test_a_three_hour_old_reading_cannot_confirm_the_stop_and_is_paged(
    edge_world: EdgeWorld,
) -> None:
    """Issue 22 #1. Runbook 000 §5a "Verificar temperatura atual" / "Sistema já deve ter
    parado automaticamente": a reading three hours old (no power flow then) is not the
    current state. Older than the reporting bound (runbook 000 §1 "> 30s sem dados") it
    cannot confirm the stop: the stop is sent, and with no fresh reading after it people
    are paged and nothing is closed."""
    from selfheal_shared.battery import battery

    w = edge_world
    [sim] = w.start_edges([E1])
    sim.power_kw, sim.temperature_c = 0.0, 41.0
    sim.publish_telemetry()  # stopped and cool, three hours before the alarm
    w.settle()
    with w.pipeline.clock.held():
        w.pipeline.clock.advance(3 * 3600)
    sim.power_kw, sim.temperature_c = 12.5, 56.0  # what it is now; no telemetry says so
    sim.raise_alarm("OVER_TEMPERATURE", reason="56 C")
    [run] = w.ladders(finished=1, workflow="over_temperature", timeout=600)

    assert [c["command"] for c in sim.commands] == ["stop"], "a stale reading confirms nothing"
    [read] = [r for r in records(w) if r["action"] == "telemetry_read"]
    assert "cannot confirm" in read["result"] and "10800 s old (stale" in read["result"]
    [check] = [r for r in records(w) if r["action"] == "stop_not_verified"]
    assert "stale" in check["result"], "the one reading after the stop is 55 s old"
    assert run["status"] == "FAILED" and run["states"][-1] == "NotStopped", run["states"]
    assert {"l1", "l2"} <= {n["level"] for n in w.pages()}
    assert "no fresh reading confirms it" in w.pages()[0]["message"]["reason"]
    assert "FIXED" not in [r.get("outcome") for r in records(w)]
    assert battery.restart_lock(E1) is not None


@pytest.mark.procedure("E9", "silence never suppresses a safety stop")
@pytest.mark.procedure("E9", "silenced P1 resumes when the silence ends")
@pytest.mark.procedure("E9", "silence scoped to an alarm is honoured")
@pytest.mark.procedure("E5", "system running: stop")
def test_a_silence_holds_the_page_never_the_stop_and_the_page_goes_out_when_it_ends(
    edge_world: EdgeWorld,
) -> None:
    """Issue 22 #3. Runbook 000 §6 "Silenciar alarme (manutenção programada)" holds pages and
    non-safety automation, never the stop of §5a; when the silence ends the incident resumes:
    maintenance is paged then, and the lock holds until the temperature is normal."""
    w = edge_world
    ends = silence(w, f"alarm:{E1}:OVER_TEMPERATURE", 20)
    [sim] = w.start_edges([E1])
    sim.power_kw, sim.temperature_c = 12.5, 56.0
    sim.publish_telemetry()
    w.settle()
    with w.pipeline.clock.held():  # hot for 10 min, then normal; reporting every 20 s
        cooling(w, sim, [56.0] + [43.0] * 8, every_min=5)
        sim.raise_alarm("OVER_TEMPERATURE", reason="56 C")
    [run] = w.ladders(finished=1, workflow="over_temperature", timeout=600)

    assert run["status"] == "SUCCEEDED" and run["states"][-1] == "LockReleased", (
        run["states"],
        [(r["action"], r.get("outcome"), r["result"]) for r in records(w)],
    )
    [stop] = sim.commands
    assert stop["command"] == "stop" and datetime.fromisoformat(stop["issuedAt"]) < ends
    done = records(w)
    held, sent = (
        [r for r in done if r["action"] == "page_maintenance" and r.get("outcome") == o]
        for o in ("SKIPPED_BY_GUARD", "ESCALATED")
    )
    assert len(held) == 1 and f"silenced on alarm:{E1}:OVER_TEMPERATURE" in held[0]["why"]
    assert len(sent) == 1 and datetime.fromisoformat(sent[0]["at"]) >= ends
    for r in done:  # nobody paged while the silence lasted
        if r.get("outcome") == "ESCALATED":
            assert datetime.fromisoformat(r["at"]) >= ends, r
    # The ladder counts from the silence's end, not from the raise: the silenced time is
    # nobody's unanswered page (L1 once it ended, L2 15 minutes after it while still locked).
    page, *later = [n for n in w.pages() if n["message"].get("maintenance")]
    assert page["level"] == "l1" and "silence on this alarm has ended" in page["message"]["summary"]
    assert [(n["level"], datetime.fromisoformat(n["message"]["at"]) - ends) for n in later] == [
        ("l2", timedelta(minutes=15))
    ]
    [released] = [r for r in done if r["action"] == "restart_lock_released"]
    assert datetime.fromisoformat(released["at"]) > datetime.fromisoformat(sent[0]["at"])


@pytest.mark.procedure("E9", "silence suppresses automation and paging")
def test_a_lock_released_while_silenced_tells_ops_and_pages_nobody(edge_world: EdgeWorld) -> None:
    """Runbook 000 §6 "Silenciar alarme": an over-temperature that stopped by itself and
    cooled within the silence is recorded and told to ops; nobody is paged for it."""
    w = edge_world
    ends = silence(w, E1, 60)
    [sim] = w.start_edges([E1])
    sim.power_kw, sim.temperature_c = 0.0, 56.0
    sim.publish_telemetry()
    w.settle()
    with w.pipeline.clock.held():
        cooling(w, sim, [43.0] * 8, every_min=5)
        sim.raise_alarm("OVER_TEMPERATURE", reason="56 C")
    [run] = w.ladders(finished=1, workflow="over_temperature", timeout=600)

    assert run["status"] == "SUCCEEDED" and run["states"][-1] == "LockReleased", run["states"]
    assert sim.commands == [], "already stopped (fresh reading): nothing sent"
    [released] = [r for r in records(w) if r["action"] == "restart_lock_released"]
    assert datetime.fromisoformat(released["at"]) < ends
    assert w.pages() == []
    [told] = [n for n in w.pipeline.notifications() if n["message"].get("outcome") == "FIXED"]
    assert told["level"] == "ops" and "restart lock released" in told["message"]["summary"]
