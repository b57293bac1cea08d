"""A refused edge ladder (issue 19, "No silent refusals"; `selfheal_shared/core/refusals.py`): the
kill switch, dry-run or a maintenance window stop the ladder's actions, never its pages. The
incident stays open, is paged on its clock (P2: L1 at 10 min offline, L2 at 30, L3 at 60)
and is closed, with its downtime, only when the edge is back (or a person closes it)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

from selfheal_shared.core import guards
from selfheal_shared.edge import edge_registry

from tests.edge.conftest import EdgeWorld

E1, E2 = "edge-cps-001", "edge-cps-002"


def offline_pages(w: EdgeWorld) -> list[tuple[str, float]]:
    """The ladder's pages on its clock (each says how long the edge has been offline); not
    an escalation whose subject names the workflow."""
    return [
        (p["level"], p["message"]["offlineMinutes"])
        for p in w.pages()
        if "offline" in p["subject"] and "offlineMinutes" in p["message"]
    ]


def incident(w: EdgeWorld) -> dict[str, Any]:
    return edge_registry.get(f"edge-incident#{E1}") or {}


def test_a_kill_switch_keeps_the_outage_open_and_paged_until_the_edge_is_back(
    edge_world: EdgeWorld,
) -> None:
    """The fault injection of issue 19: with the kill switch on, the ladder closed the
    incident with an ops note and nobody was paged for three hours. Now: no action, pages
    at 10/30/60 min, the incident still open three hours on, closed with its downtime the
    moment the edge is back."""
    w = edge_world
    [sim, _] = w.start_edges([E1, E2])  # E2 online: the site's network works
    guards.set_switch(guards.KILL_SWITCH, enabled=True, reason="incident review", actor="ana")
    seen: dict[str, Any] = {}

    def three_hours_on() -> None:
        seen.update(incident=incident(w), pages=offline_pages(w))

    with w.pipeline.clock.held():  # the timers and the outage start at the same instant
        w.pipeline.clock.call_later(179 * 60, three_hours_on)
        w.pipeline.clock.call_later(180 * 60, sim._restart)  # someone on site fixes it
        start = w.pipeline.clock.now()
        sim.kill()
        w.settle()
    [run] = [r for r in w.ladders(finished=1) if r["workflow"] == "edge_offline_ladder"]

    assert run["status"] == "FAILED" and run["states"][-2:] == ["EscalateUnresolved", "Unresolved"]
    assert "Probe" not in run["states"] and sim.commands == [] and w.commands_sent() == []
    assert "CloseSkipped" not in run["states"], "a refusal never closes the incident"
    if not w.pipeline.clock.wait_until(lambda: incident(w).get("status") == "closed", 300):
        raise TimeoutError(f"the incident was never closed: {incident(w)}")
    w.settle()  # the closer records and sends its resolves after the closing write

    assert seen["incident"]["status"] == "open", "still open three hours on"
    assert [lvl for lvl, _ in seen["pages"]] == ["l1", "l2", "l3"]
    for (level, minutes), due in zip(seen["pages"], (10, 30, 60), strict=True):
        assert due <= minutes < due + 1.5, f"{level} paged at {minutes} min"
    records = w.pipeline.audit_records()
    [closed] = [r for r in records if r["action"] == "edge_incident_closed"]
    assert 179 <= json.loads(closed["details"])["downtimeMinutes"] <= 181
    assert datetime.fromisoformat(closed["at"]) - start >= timedelta(minutes=180)
    assert "FIXED" not in [r.get("outcome") for r in records], [
        (r["action"], r["actor"], r.get("result")) for r in records if r.get("outcome") == "FIXED"
    ]
    resolved = [n for n in w.pipeline.notifications() if "RESOLVED" in str(n["subject"])]
    assert {n["level"] for n in resolved} == {"ops", "l1", "l2", "l3"}, "everyone paged is told"
    ladders = [r for r in w.ladders(finished=1) if r["workflow"] == "edge_offline_ladder"]
    assert len(ladders) == 1 or all(r["states"][-1] == "Duplicate" for r in ladders[1:])


def test_back_after_a_refusal_is_closed_with_its_downtime_never_fixed(
    edge_world: EdgeWorld,
) -> None:
    """Dry-run refuses the ladder; the edge comes back by itself at minute 20, after its
    L1 page: the ladder closes the incident with its downtime, recorded SKIPPED_BY_GUARD
    (not fixed by automation), and ends there."""
    w = edge_world
    [sim, _] = w.start_edges([E1, E2])
    guards.set_switch(guards.DRY_RUN, enabled=True, reason="rehearsal", actor="ana")
    with w.pipeline.clock.held():
        w.pipeline.clock.call_later(20 * 60, sim._restart)
        sim.kill()
    [run] = [r for r in w.ladders(finished=1) if r["workflow"] == "edge_offline_ladder"]

    assert run["status"] == "SUCCEEDED" and run["states"][-1] == "ClosedWithoutAction"
    assert sim.commands == [] and w.commands_sent() == []
    assert [lvl for lvl, _ in offline_pages(w)] == ["l1"]
    assert incident(w)["status"] == "closed"
    [last] = [a for a in run["actions"] if a["name"] == "edge_offline_ladder"][-1:]
    assert last["outcome"] == "SKIPPED_BY_GUARD" and "not fixed by automation" in last["result"]


def test_a_kill_switch_turned_on_mid_ladder_pages_on_the_same_clock(
    edge_world: EdgeWorld,
) -> None:
    """The switch turned on after the probe: the restart is refused, the ladder holds the
    outage (no more actions) and pages it on its clock from there."""
    w = edge_world
    [sim, _] = w.start_edges([E1, E2])
    # The probe goes out at the end of the 2-minute grace; its answer is awaited 30 s.
    with w.pipeline.clock.held():
        w.pipeline.clock.call_later(
            130,
            lambda: guards.set_switch(
                guards.KILL_SWITCH, enabled=True, reason="drill", actor="ana"
            ),
        )
        w.pipeline.clock.call_later(35 * 60, sim._restart)
        sim.kill()
    [run] = [r for r in w.ladders(finished=1) if r["workflow"] == "edge_offline_ladder"]

    assert [c["command"] for c in sim.commands] == ["probe"], "nothing after the switch"
    states = run["states"]
    assert states.index("Restart") < states.index("Refusal") < states.index("HoldRefused")
    assert "WhileSilenced" not in states and states[-1] == "ClosedWithoutAction"
    assert [lvl for lvl, _ in offline_pages(w)] == ["l1", "l2"]
    refused = [r for r in w.pipeline.audit_records() if r["action"] == "refused"]
    assert refused and "kill_switch" in refused[0]["why"]


def test_a_maintenance_window_stops_actions_not_pages(edge_world: EdgeWorld) -> None:
    """A maintenance window keeps automation's hands off the edge; it does not stop people
    being told (only an operator's silence does: runbook 000 §6 "Silenciar alarme")."""
    w = edge_world
    [sim, _] = w.start_edges([E1, E2])
    now = w.pipeline.clock.now()
    guards.set_maintenance(E1, starts=now, ends=now + timedelta(hours=3), reason="troca do BMS")
    w.pipeline.clock.call_later(15 * 60, sim._restart)
    sim.kill()
    [run] = [r for r in w.ladders(finished=1) if r["workflow"] == "edge_offline_ladder"]

    assert sim.commands == [] and "WhileSilenced" not in run["states"]
    assert [lvl for lvl, _ in offline_pages(w)] == ["l1"]
    assert run["states"][-1] == "ClosedWithoutAction"
