"""Duplicate deliveries at scale: each incident delivered five times, from eight threads at
once. One execution per incident acts; every copy ends at its claim in three transitions,
with no action, no record and no notification (DESIGN.md: events arrive more than once).
The suite runs 50 incidents; `make bench` runs 200."""

from __future__ import annotations

import os
import random
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from local.runtime import Pipeline, alarm_event
from local.world import AlarmSpec, ServiceSpec, WorldSpec

INCIDENTS = int(os.environ.get("SELFHEAL_STORM_INCIDENTS", "50"))
COPIES = 5


def storm_world(n: int) -> WorldSpec:
    return WorldSpec(
        services=[
            ServiceSpec(
                function=f"svc-{i:03d}",
                versions=3,
                live="3",
                healthyVersions=["1", "2"],
                alarm=AlarmSpec(name=f"svc-{i:03d}-errors", metric="Errors", threshold=5),
                tags={"selfheal:managed": "true"},
            )
            for i in range(n)
        ]
    )


def run_storm(p: Pipeline, n: int) -> dict[str, Any]:
    cw = p.client("cloudwatch")
    at = p.clock.now()
    events = []
    for i in range(n):
        [alarm] = cw.describe_alarms(AlarmNames=[f"svc-{i:03d}-errors"])["MetricAlarms"]
        events += [alarm_event(alarm, "ALARM", "OK", "errors", at) for _ in range(COPIES)]
    random.Random(7).shuffle(events)
    with ThreadPoolExecutor(max_workers=8) as pool:
        arns = [a for started in pool.map(p.put_event, events) for a in started]
    p.wait(arns, timeout=600)
    return {"arns": arns, "summaries": [p.execution_summary(a) for a in arns]}


def test_five_copies_of_each_incident_act_once(make_pipeline: Any) -> None:
    p = make_pipeline(world_spec=storm_world(INCIDENTS))
    storm = run_storm(p, INCIDENTS)
    runs = storm["summaries"]

    assert len(runs) == INCIDENTS * COPIES
    ends = Counter(tuple(r["states"]) if len(r["states"]) == 3 else "acted" for r in runs)
    assert ends == {
        "acted": INCIDENTS,
        ("Claim", "IsDuplicate", "Duplicate"): INCIDENTS * (COPIES - 1),
    }, ends
    rolled = Counter(
        r["details"]
        for r in p.audit_records()
        if r["action"] == "rollback_alias" and r["actor"] == "rollback_deployment"
    )
    assert len(rolled) == INCIDENTS and set(rolled.values()) == {1}, "one rollback each"
    subjects = Counter(n["subject"] for n in p.notifications())
    assert subjects == {"[selfheal] rollback_on_5xx: FIXED": INCIDENTS}, subjects
    lam = p.client("lambda")
    assert {
        lam.get_alias(FunctionName=f"svc-{i:03d}", Name="live")["FunctionVersion"]
        for i in range(INCIDENTS)
    } == {"2"}
