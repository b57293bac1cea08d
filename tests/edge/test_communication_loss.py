"""COMMUNICATION_LOSS (runbook 000 §5, catalog E8: "COMMUNICATION_LOSS → ver item 1"): from a
controller that is disconnected it is the edge offline, and the offline ladder (§1) walks it;
from a controller that is connected, its cloud link works, so a link behind it (BMS,
inverter) is lost: diagnosed and paged, the controller never restarted. A silence on the
alarm (§6 "Silenciar alarme (manutenção programada)") holds either."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

import pytest

from tests.edge.conftest import EdgeWorld
from tests.edge.test_alarm_intake import cloudwatch_alarm

E1 = "edge-cps-001"


def silence(w: EdgeWorld, scope: str, minutes: int) -> datetime:
    """The operator's silence, through its workflow; returns when it ends."""
    arn = w.pipeline.start_manual(
        "edge_silence",
        {"scope": scope, "durationMinutes": minutes, "reason": "manutenção programada"},
    )
    w.pipeline.wait([arn])
    return w.pipeline.clock.now() + timedelta(minutes=minutes)


def records(w: EdgeWorld, prefix: str) -> list[dict[str, Any]]:
    return [r for r in w.pipeline.audit_records() if r["incidentId"].startswith(prefix)]


@pytest.mark.procedure("E8", "disconnected controller: the E1 ladder walks it")
@pytest.mark.procedure("E9", "silence on the COMMUNICATION_LOSS alarm holds the ladder")
def test_a_silence_on_the_communication_loss_alarm_holds_the_ladder_until_it_ends(
    edge_world: EdgeWorld,
) -> None:
    """Runbook 000 §6: `POST /alarms/{alarmId}/silence {"durationMinutes", "reason"}`
    ("manutenção programada"): no action and no page for that alarm while it lasts; the
    incident resumes when it ends (§1: the hung controller is restarted then)."""
    w = edge_world
    [sim] = w.start_edges([E1])
    ends = silence(w, f"alarm:{E1}:COMMUNICATION_LOSS", 30)
    w.outage([sim])  # the controller is disconnected (its last will) ...
    cloudwatch_alarm(w, {"EdgeId": E1, "AlarmType": "COMMUNICATION_LOSS"})  # ... and alarmed
    [run] = w.ladders(finished=1)

    assert run["status"] == "SUCCEEDED" and run["states"][-1] == "Closed", run["states"]
    assert "WhileSilenced" in run["states"], "the alarm's silence held the ladder"
    assert [c["command"] for c in sim.commands] == ["probe", "restart"], "resumed after it"
    for command in sim.commands:
        assert datetime.fromisoformat(command["issuedAt"]) >= ends, "nothing while silenced"
    assert all(datetime.fromisoformat(p["message"]["at"]) >= ends for p in w.pages())
    silenced = [r for r in records(w, "edge_offline_ladder") if r["action"] == "silenced"]
    assert silenced and f"alarm:{E1}:COMMUNICATION_LOSS" in silenced[0]["why"]
    assert w.ladders(finished=0, workflow="edge_link_lost") == [], "not a link behind it"


@pytest.mark.procedure("E8", "connected controller: the link behind it is diagnosed and paged")
def test_a_connected_controller_reporting_communication_loss_is_paged_never_restarted(
    edge_world: EdgeWorld,
) -> None:
    """The controller sends COMMUNICATION_LOSS over its own MQTT connection: its cloud link
    works, the BMS behind it does not. Which link is said (from the alarm), L1 is paged on
    the P2 clock (runbook 000 §6: 10 min), nothing is sent to the edge, and the incident
    ends when the controller clears the alarm."""
    w = edge_world
    clock = w.pipeline.clock
    [sim] = w.start_edges([E1])
    cleared: list[datetime] = []

    def link_back() -> None:
        sim.raise_alarm("COMMUNICATION_LOSS", "cleared", reason="BMS back")
        cleared.append(clock.now())

    with clock.held():
        sim.raise_alarm("COMMUNICATION_LOSS", reason="BMS link lost: no CAN frames for 30 s")
        clock.call_later(15 * 60, link_back)
    assert clock.wait_until(lambda: bool(cleared), 300), "15 virtual minutes went by"
    w.settle()

    assert sim.commands == [] and w.commands_sent() == [], "the controller is not restarted"
    assert sim.restarts == 0 and sim.connected.is_set()
    assert w.ladders(finished=0) == [], "no offline ladder: the edge is not offline"
    [run] = w.ladders(finished=1, workflow="edge_link_lost")
    assert run["status"] == "SUCCEEDED" and run["states"][-1] == "LinkRestored", run["states"]
    [diagnosis] = [r for r in records(w, "edge_link_lost") if r["action"] == "diagnosis"]
    assert json.loads(diagnosis["details"])["link"] == "bms"
    assert "BMS link lost" in diagnosis["why"]
    [page] = [p for p in w.pages() if p["message"].get("kind") == "page"]
    assert page["level"] == "l1" and "bms link lost" in page["subject"]
    assert page["message"]["link"] == "bms" and 10 <= page["message"]["minutes"] < 11.5
    assert page["message"]["dedupKey"] == run_incident(w)
    [back] = [p for p in w.pages() if p["message"].get("kind") == "resolve"]
    assert back["level"] == "l1" and back["message"]["dedupKey"] == run_incident(w)


def run_incident(w: EdgeWorld) -> str:
    [incident] = {r["incidentId"] for r in records(w, "edge_link_lost")}
    return str(incident)


@pytest.mark.procedure("E9", "P2 within 1 h")
def test_an_acknowledged_link_loss_pages_no_l2_and_resolves_l1_when_the_link_is_back(
    edge_world: EdgeWorld,
) -> None:
    """The link loss's pages go on its page chain: L1 at 10 min (P2), acknowledged at 12;
    the link stays lost past L2's 30 minutes and nobody else is paged; the controller's
    clear at 90 minutes sends L1 one resolve."""
    from selfheal_shared.core import page_chain

    w = edge_world
    clock = w.pipeline.clock
    [sim] = w.start_edges([E1])
    cleared: list[datetime] = []

    def link_back() -> None:
        sim.raise_alarm("COMMUNICATION_LOSS", "cleared", reason="BMS back")
        cleared.append(clock.now())

    with clock.held():
        sim.raise_alarm("COMMUNICATION_LOSS", reason="BMS link lost: no CAN frames for 30 s")
        clock.call_later(12 * 60, lambda: page_chain.acknowledge(run_incident(w), by="ana"))
        clock.call_later(90 * 60, link_back)
    assert clock.wait_until(lambda: bool(cleared), 300), "90 virtual minutes went by"
    [run] = w.ladders(finished=1, workflow="edge_link_lost")

    assert run["status"] == "SUCCEEDED" and run["states"][-1] == "LinkRestored", run["states"]
    assert [(p["level"], p["message"].get("kind")) for p in w.pages()] == [
        ("l1", "page"),
        ("l1", "resolve"),
    ]
    assert sim.commands == [], "the controller is not restarted"
