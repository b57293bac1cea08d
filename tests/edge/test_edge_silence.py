"""Silences over the edge ladder (runbook 000 §6 "Silenciar alarme (manutenção
programada)", issue 9 item 4): a silenced outage is left alone, not fixed; it is picked up
again when the silence ends; a silence and a maintenance window are separate records."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

import pytest

from tests.edge.conftest import EdgeWorld

E1 = "edge-cps-001"
SITE = "site-campinas"


def silence(w: EdgeWorld, scope: str, minutes: int) -> datetime:
    """The operator's silence, through its workflow; returns when it ends."""
    arn = w.pipeline.start_manual(
        "edge_silence",
        {"scope": scope, "durationMinutes": minutes, "reason": "manutenção preventiva"},
    )
    w.pipeline.wait([arn])
    return w.pipeline.clock.now() + timedelta(minutes=minutes)


def ladder(w: EdgeWorld) -> dict[str, Any]:
    [run] = [r for r in w.ladders(finished=1) if r["workflow"] == "edge_offline_ladder"]
    return run


def records(w: EdgeWorld) -> list[dict[str, Any]]:
    """The audit trail of E1's (latest) incident."""
    from selfheal_shared.edge import edge_registry

    incident = (edge_registry.get(f"edge-incident#{E1}") or {})["incidentId"]
    return [r for r in w.pipeline.audit_records() if r["incidentId"] == incident]


@pytest.mark.procedure("E9", "silence ends, edge still offline: ladder resumes")
def test_when_the_silence_ends_and_the_edge_is_still_offline_the_ladder_resumes(
    edge_world: EdgeWorld,
) -> None:
    """Runbook 000 §6: `{"durationMinutes": 60, "reason": "manutenção preventiva"}` — the
    silence lasts its minutes; past them the outage is handled like any other (§1:
    "Processo edge travado → restart")."""
    w = edge_world
    ends = silence(w, f"site:{SITE}", 30)
    [sim] = w.start_edges([E1])
    sim.kill()
    run = ladder(w)

    assert run["status"] == "SUCCEEDED" and run["states"][-1] == "Closed"
    states = run["states"]
    assert states.index("WhileSilenced") < states.index("Probe") < states.index("Restart")
    assert [c["command"] for c in sim.commands] == ["probe", "restart"]
    for command in sim.commands:
        assert datetime.fromisoformat(command["issuedAt"]) >= ends, "nothing while silenced"
    steps = [(r["action"], r.get("outcome")) for r in records(w)]
    assert ("silenced", "SKIPPED_BY_GUARD") in steps and ("silence_ended", None) in steps
    silences = [
        n for n in w.pipeline.notifications() if n["message"].get("automation") == "edge_silence"
    ]
    assert [n["message"]["outcome"] for n in silences] == ["SKIPPED_BY_GUARD"], "never FIXED"


@pytest.mark.procedure("E9", "edge back during the silence: closed, not fixed")
def test_an_edge_back_during_the_silence_is_not_fixed_and_not_resolved(
    edge_world: EdgeWorld,
) -> None:
    """Runbook 000 §6: under a silence automation stands down, so it cannot claim the
    recovery: the incident closes (downtime and gap recorded) as not handled."""
    w = edge_world
    silence(w, E1, 60)
    [sim] = w.start_edges([E1])
    with w.pipeline.clock.held():
        sim.kill()
        w.pipeline.clock.call_later(20 * 60, sim._restart)  # someone on site fixes it
    run = ladder(w)

    assert run["status"] == "SUCCEEDED" and run["states"][-1] == "BackDuringSilence"
    assert sim.commands == [] and w.commands_sent() == [] and w.pages() == []
    recs = records(w)
    assert "FIXED" not in [r.get("outcome") for r in recs]
    [closed] = [r for r in recs if r["action"] == "edge_incident_closed"]
    assert "no action was taken" in closed["result"]
    assert 19 <= json.loads(closed["details"])["downtimeMinutes"] <= 21
    subjects = [n["subject"] for n in w.pipeline.notifications()]
    assert not [s for s in subjects if "RESOLVED" in s], subjects
    assert [s for s in subjects if "silenced: no action taken" in s]


@pytest.mark.procedure("E9", "silence beside a maintenance window")
def test_a_silence_never_overwrites_a_maintenance_window(edge_world: EdgeWorld) -> None:
    """Runbook 000 §6 "Silenciar alarme (manutenção programada)": a 10-minute silence set
    during a 3-hour maintenance window must not end the window after 10 minutes."""
    from selfheal_shared.core import guards
    from selfheal_shared.edge import edge_registry

    w = edge_world
    now = w.pipeline.clock.now()
    guards.set_maintenance(
        E1, starts=now, ends=now + timedelta(hours=3), reason="troca do inversor"
    )
    silence(w, E1, 10)

    window = edge_registry.get(f"maintenance#{E1}") or {}
    assert window["endsAt"] == (now + timedelta(hours=3)).isoformat(), "window untouched"
    assert edge_registry.get(f"silence#{E1}"), "the silence is its own record"
    with w.pipeline.clock.held():
        w.pipeline.clock.advance(11 * 60)
        still = guards.silenced([E1])
    assert still is not None and still["guard"] == "maintenance_window"
    assert guards.before_action(E1).guard == "maintenance_window"


@pytest.mark.procedure("E9", "silence set while the ladder runs: no action, no page, resumes")
def test_a_silence_set_while_the_ladder_runs_stops_it_without_an_escalation(
    edge_world: EdgeWorld,
) -> None:
    """Runbook 000 §6: a silence set mid-outage stands automation down from the next
    action on; that refusal is not a failure to page about, and the ladder takes the
    outage up again when the silence ends."""
    from selfheal_shared.core import guards

    w = edge_world
    [sim] = w.start_edges([E1])
    ends: list[datetime] = []

    def operator_silences() -> None:  # after the guard step and the probe, before the fix
        guards.silence(E1, minutes=30, reason="técnico no local")
        ends.append(w.pipeline.clock.now() + timedelta(minutes=30))

    # The guard step and the probe run at the end of the 2-minute grace; the probe's answer
    # is awaited 30 s: the silence lands in between and refuses the restart.
    with w.pipeline.clock.held():
        sim.kill()
        w.pipeline.clock.call_later(130, operator_silences)
    run = ladder(w)

    assert run["status"] == "SUCCEEDED" and run["states"][-1] == "Closed"
    assert run["states"].count("Probe") == 2, "refused once, then done after the silence"
    assert run["states"].count("Restart") == 2, "the restart refused, then sent"
    assert "Refusal" in run["states"] and "WhileSilenced" in run["states"]
    assert [c["command"] for c in sim.commands] == ["probe", "probe", "restart"]
    for command in sim.commands[1:]:
        assert datetime.fromisoformat(command["issuedAt"]) >= ends[0]
    subjects = [n["subject"] for n in w.pipeline.notifications()]
    assert not [s for s in subjects if "ESCALATION" in s], subjects
    assert w.pages() == []
