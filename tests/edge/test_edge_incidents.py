"""An edge incident ends when the edge is back, however its ladder ended (runbook 000 §1,
issue 9 item 6): the reconnect closes `edge-incident#<edge>` with downtime and data gap,
and the next outage is a new incident with its own ladder."""

from __future__ import annotations

from typing import Any

import pytest

from tests.edge.conftest import EdgeWorld

E1 = "edge-cps-001"


def incident() -> dict[str, Any]:
    from selfheal_shared.edge import edge_registry

    return edge_registry.get(f"edge-incident#{E1}") or {}


@pytest.mark.procedure("E1", "edge back after a failed ladder: incident closed, next outage new")
def test_one_edge_two_outages_with_a_failed_ladder_between(edge_world: EdgeWorld) -> None:
    """Runbook 000 §1 "Hardware com falha: Trocar hardware; provisioning automático ao
    ligar" — the ladder gives up and pages; the replaced controller comes back and that
    closes the outage. An hour later the process hangs ("Processo edge travado → restart"):
    a new incident, restarted, not a "Duplicate" of the closed one."""
    w = edge_world
    [sim] = w.start_edges([E1], failure="hardware", buffered=100)
    sim.kill()
    [first] = w.ladders(finished=1)
    assert first["status"] == "FAILED", "the ladder gave up and paged"
    outage_1 = incident()
    assert outage_1["status"] == "open"

    sim.failure = None  # the field team replaced it; it provisions itself and connects
    w.pipeline.clock.call_later(5 * 60, sim._restart)
    w.wait_for_event(lambda e: e["detail"].get("previous") == "offline")
    w.settle()
    closed = incident()
    assert closed["status"] == "closed" and closed["incidentId"] == outage_1["incidentId"]
    assert float(closed["downtimeMinutes"]) >= 60 and int(closed["samplesBuffered"]) == 100
    assert int(closed["samplesLost"]) == int(closed["samplesExpected"]) - 100
    resolved = [n for n in w.pipeline.notifications() if "RESOLVED" in n["subject"]]
    assert sorted(n["level"] for n in resolved) == ["l1", "l2", "l3", "ops"], "all who were paged"

    with w.pipeline.clock.held():
        w.pipeline.clock.advance(3600)
    sim.kill()
    runs = w.ladders(finished=2)
    [second] = [r for r in runs if r["executionArn"] != first["executionArn"]]

    assert "Duplicate" not in second["states"]
    assert "Restart" in second["states"] and second["states"][-1] == "Closed"
    # outage 1: the probe went unanswered (dead box); outage 2: probed, then restarted
    assert [c["command"] for c in sim.commands] == ["probe", "probe", "restart"]
    assert incident()["incidentId"] != outage_1["incidentId"], "a new incident"
    assert incident()["status"] == "closed"
