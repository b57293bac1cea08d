"""COMMUNICATION_LOSS (runbook 000 §5, catalog E8): the alarm, raised by the edge on
`lifo4/{edgeId}/alarms` or by a CloudWatch alarm, runs the edge offline ladder (§1)."""

from __future__ import annotations

import pytest

from tests.edge.conftest import EdgeWorld

E1 = "edge-cps-001"


@pytest.mark.procedure("E8", "COMMUNICATION_LOSS alarm runs the edge offline ladder")
def test_a_communication_loss_alarm_over_mqtt_runs_the_offline_ladder(
    edge_world: EdgeWorld,
) -> None:
    """Runbook 000 §5: "COMMUNICATION_LOSS → ver item 1 (edge offline)". The edge is
    marked offline from the alarm and the ladder diagnoses and restarts it."""
    w = edge_world
    [sim] = w.start_edges([E1])
    sim.raise_alarm("COMMUNICATION_LOSS", reason="controller lost the cloud link")
    [run] = w.ladders(finished=1)

    assert run["status"] == "SUCCEEDED" and run["states"][-1] == "Closed", run["states"]
    assert [c["command"] for c in sim.commands] == ["probe", "restart"]
    opened = [
        e
        for j in w.pipeline.journal
        if j.kind == "event"
        and (e := j.data["event"])["detail-type"] == "Edge Connectivity Changed"
        and e["detail"]["state"] == "offline"
    ]
    assert opened[0]["detail"]["reason"].startswith("COMMUNICATION_LOSS alarm: controller")
