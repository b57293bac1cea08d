"""The ladder's close says who fixed the edge (runbook 000 §1, truthful records): FIXED only
after a fix selfheal sent and the edge confirmed, with the edge verified back; an edge back
by itself is NO_ACTION_NEEDED, and one back after the escalation (or after a fix it never
confirmed) is NOT_FIXED, recovered, not through selfheal."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.edge.conftest import EdgeWorld

E1, E2 = "edge-cps-001", "edge-cps-002"


def closes(w: EdgeWorld) -> list[dict[str, Any]]:
    """The ladder's own close records (edge_close's run.record)."""
    return [
        r
        for r in w.pipeline.audit_records()
        if r["actor"] == "edge_close" and r["action"] == "edge_offline_ladder"
    ]


def ladder_notes(w: EdgeWorld) -> list[dict[str, Any]]:
    return [n for n in w.pipeline.notifications() if n["message"].get("outcome")]


@pytest.mark.procedure("E1", "back within the grace period")
def test_back_within_the_grace_period_is_recorded_as_no_action_needed(
    edge_world: EdgeWorld,
) -> None:
    """Runbook 000 §1: a blip that ends within the 2-minute grace: selfheal did nothing, so
    the close says the edge recovered by itself (NO_ACTION_NEEDED), never FIXED."""
    w = edge_world
    [sim] = w.start_edges([E1])
    with w.pipeline.clock.held():
        sim.kill()
        w.settle()
        assert w.broker.inflight.wait_delivered(f"lifo4/{E1}/status", 30)
        sim.start()
        w.settle()
    [run] = w.ladders(finished=1)

    [close] = closes(w)
    assert close["outcome"] == "NO_ACTION_NEEDED", close
    assert "CloseUnaided" in run["states"] and "Close" not in run["states"]
    assert "recovered by itself" in close["result"]
    assert "FIXED" not in [r.get("outcome") for r in w.pipeline.audit_records()]
    [note] = ladder_notes(w)
    assert note["level"] == "ops" and note["message"]["outcome"] == "NO_ACTION_NEEDED"
    assert "recovered by itself" in note["subject"]


@pytest.mark.procedure("E1", "back by itself while its restart waits: not credited")
def test_back_while_the_restart_is_still_queued_is_not_fixed(
    edge_world: EdgeWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Runbook 000 §1 "Processo edge travado → restart": the restart waits for the fleet
    budget (never sent) and the edge comes back by itself meanwhile: not FIXED."""
    monkeypatch.setenv("SELFHEAL_EDGE_RESTARTS_PER_MINUTE", "0")
    w = edge_world
    [sim] = w.start_edges([E1])
    sim.kill()
    w.pipeline.clock.call_later(4 * 60, sim._restart)  # back by itself at 4 min
    [run] = w.ladders(finished=1)

    [close] = closes(w)
    assert close["outcome"] == "NO_ACTION_NEEDED", close
    assert run["status"] == "SUCCEEDED" and run["states"][-1] == "Closed"
    assert "WatchWhileQueued" in run["states"] and "CloseUnaided" in run["states"]
    assert [c["command"] for c in sim.commands] == ["probe"], "the restart was never sent"
    assert "FIXED" not in [r.get("outcome") for r in w.pipeline.audit_records()]


@pytest.mark.procedure("E1", "back after the escalation: NOT_FIXED, recovered, not by selfheal")
def test_back_after_the_page_is_not_fixed_but_recovered(edge_world: EdgeWorld) -> None:
    """Runbook 000 §1 "Hardware com falha": nothing selfheal sent brought it back; it was
    paged at 10 min and the field team got it back at 15: NOT_FIXED, recovered, and the
    record says it was not through selfheal."""
    w = edge_world
    [sim] = w.start_edges([E1], failure="hardware")
    w.start_edges([E2])  # the site's network works

    def repaired() -> None:
        sim.failure = None
        sim._restart()

    sim.kill()
    w.pipeline.clock.call_later(15 * 60, repaired)
    [run] = w.ladders(finished=1)

    [close] = closes(w)
    assert close["outcome"] == "NOT_FIXED", close
    assert run["status"] == "SUCCEEDED" and "CloseUnaided" in run["states"]
    assert [p["level"] for p in w.pages() if " offline " in p["subject"]] == ["l1"]
    details = json.loads(close["details"])
    assert details["recovered"] is True
    assert details["whatFixedIt"] == "back after the escalation (paged l1), not through selfheal"
    assert "FIXED" not in [r.get("outcome") for r in w.pipeline.audit_records()]


@pytest.mark.procedure("E1", "hung process: restart")
def test_back_after_an_acknowledged_restart_is_fixed_and_says_by_what(
    edge_world: EdgeWorld,
) -> None:
    """Runbook 000 §1 "Processo edge travado → restart": the edge acknowledged selfheal's
    restart and is back: FIXED, crediting that restart."""
    w = edge_world
    [sim] = w.start_edges([E1])
    sim.kill()
    [run] = w.ladders(finished=1)

    assert run["states"][-2:] == ["Close", "Closed"]
    [close] = closes(w)
    assert close["outcome"] == "FIXED"
    what = json.loads(close["details"])["whatFixedIt"]
    assert what.startswith("selfheal's restart, acknowledged by the edge (restart-"), what
