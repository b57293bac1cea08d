"""Duplicate deliveries at scale (benchmarks/storm.py): each incident delivered five times,
from eight threads at once. One execution per incident acts; every copy ends at its claim
in three transitions, with no action and no notification. 25 incidents here (about a minute), 200 in
`make bench`."""

from __future__ import annotations

from typing import Any

from benchmarks import storm

INCIDENTS = 25


def test_five_copies_of_each_incident_act_once(make_pipeline: Any) -> None:
    p = make_pipeline(world_spec=storm.world(INCIDENTS))
    runs = storm.deliver(p, INCIDENTS)
    figures = storm.figures(p, runs)

    assert figures["executions"] == INCIDENTS * storm.COPIES
    assert figures["acted"] == INCIDENTS, figures
    assert figures["ended_at_claim"] == INCIDENTS * (storm.COPIES - 1)
    assert figures["rollbacks"] == INCIDENTS and figures["duplicate_rollbacks"] == 0
    assert figures["notifications"] == {"[selfheal] rollback_on_5xx: FIXED": INCIDENTS}
    assert figures["live_versions"] == ["2"], "every function rolled back"
