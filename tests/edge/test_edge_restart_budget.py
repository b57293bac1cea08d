"""A full restart budget queues the restart; it never fails the ladder (runbook 000 §1,
DESIGN "never fleet-wide at once"). The issue's fleet was 500 edges, 100 offline at 100
sites, 10 restarts a minute: here 100 edges, 20 offline at 20 sites, 2 a minute (the same
proportions), with the 5 % sliding cap beside it."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

import pytest

from local.worlds import WorldSpec
from local.worlds.edge import EdgeSiteSpec

SITES, PER_SITE = 20, 5


@pytest.mark.procedure("E1", "hung process: restart")
def test_a_full_restart_budget_queues_restarts_and_every_ladder_closes(
    make_edge_world: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Runbook 000 §1: "Processo edge travado | `sudo systemctl restart lifo4-edge`", never
    fleet-wide at once: at most 2 restarts a clock minute and 5 % of the fleet in any
    sliding 60 s; every hung edge is restarted in turn and its ladder's pages go on while
    it waits."""
    monkeypatch.setenv("SELFHEAL_EDGE_RESTARTS_PER_MINUTE", "2")
    w = make_edge_world(
        WorldSpec(
            edgeSites=[
                EdgeSiteSpec(siteId=f"site-{n:02d}", prefix=f"edge-s{n:02d}", count=PER_SITE)
                for n in range(SITES)
            ]
        )
    )
    hung = w.start_edges([f"edge-s{n:02d}-001" for n in range(SITES)])
    w.start_edges(
        [f"edge-s{n:02d}-{k:03d}" for n in range(SITES) for k in range(2, PER_SITE + 1)],
        agent=False,
    )
    w.outage(hung)
    runs = w.ladders(finished=SITES, timeout=600)

    escalations = [
        json.dumps(n["message"])[-1500:] for n in w.pages() if "ESCALATION" in n["subject"]
    ]
    assert [r["states"][-1] for r in runs] == ["Closed"] * SITES, escalations
    assert all(s.restarts == 1 for s in hung)
    restarts = sorted(
        datetime.fromisoformat(r["at"])
        for r in w.pipeline.audit_records()
        if r["action"] == "edge_restart"
    )
    assert len(restarts) == SITES
    per_minute: dict[int, int] = {}
    for at in restarts:
        minute = int(at.timestamp() // 60)
        per_minute[minute] = per_minute.get(minute, 0) + 1
    assert max(per_minute.values()) <= 2
    for at in restarts:
        in_window = [t for t in restarts if at <= t < at + timedelta(seconds=60)]
        assert len(in_window) <= 5, "5 % of 100 edges in any sliding 60 s"
    queued = [r for r in w.pipeline.audit_records() if r["action"] == "edge_restart_queued"]
    assert queued and "2/min and 5 per 60 s (5% of 100 edges)" in queued[0]["why"]
    late = [p for p in w.pages() if " offline " in p["subject"]]
    assert late, "the ladders still waiting at 10 minutes paged L1 (their timing went on)"
    assert all(p["level"] == "l1" and p["message"]["offlineMinutes"] >= 10 for p in late)
    assert not [p for p in w.pages() if "ESCALATION" in p["subject"]], "none FAILED"
