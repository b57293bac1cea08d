"""Duplicate deliveries at scale: N incidents (one alarm each, on its own function), each
delivered five times, from eight threads at once. The suite runs it at 25 incidents
(tests/reliability/test_duplicate_storm.py); `make bench` at 200 and reports the figures."""

from __future__ import annotations

import random
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from local.runtime import Pipeline, alarm_event
from local.worlds import World, WorldSpec
from local.worlds.deploy import AlarmSpec, ServiceSpec

COPIES = 5
THREADS = 8
DUPLICATE_PATH = ("Claim", "IsDuplicate", "Duplicate")


def world(n: int) -> WorldSpec:
    """n services serving a bad version 3, their alarms in ALARM, versions 1-2 healthy."""
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


def deliver(p: Pipeline, n: int) -> list[dict[str, Any]]:
    """Every incident's alarm transition, COPIES times, shuffled, from THREADS threads;
    the summaries of every execution once all have ended."""
    cw = p.client("cloudwatch")
    at = p.clock.now()
    events = []
    for i in range(n):
        [alarm] = cw.describe_alarms(AlarmNames=[f"svc-{i:03d}-errors"])["MetricAlarms"]
        events += [alarm_event(alarm, "ALARM", "OK", "errors", at) for _ in range(COPIES)]
    random.Random(7).shuffle(events)
    with ThreadPoolExecutor(max_workers=THREADS) as pool:
        arns = [a for started in pool.map(p.put_event, events) for a in started]
    p.wait(arns, timeout=1200)
    return p.execution_summaries(arns)


def figures(p: Pipeline, runs: list[dict[str, Any]]) -> dict[str, Any]:
    """What the storm did: executions, which acted, rollbacks per function, notifications."""
    rollbacks = Counter(  # by target: the record's details name the function
        r["details"]
        for r in p.audit_records()
        if r["action"] == "rollback_alias" and r["actor"] == "rollback_deployment"
    )
    return {
        "executions": len(runs),
        "acted": sum(1 for r in runs if tuple(r["states"]) != DUPLICATE_PATH),
        "ended_at_claim": sum(1 for r in runs if tuple(r["states"]) == DUPLICATE_PATH),
        "rollbacks": sum(rollbacks.values()),
        "duplicate_rollbacks": sum(c - 1 for c in rollbacks.values()),
        "notifications": dict(Counter(n["subject"] for n in p.notifications())),
        "live_versions": sorted(
            {
                p.client("lambda").get_alias(FunctionName=f"svc-{i:03d}", Name="live")[
                    "FunctionVersion"
                ]
                for i in range(len(runs) // COPIES)
            }
        ),
    }


def measure(n: int = 200) -> dict[str, Any]:
    with Pipeline(world=World(world(n))) as p:
        started = time.perf_counter()
        runs = deliver(p, n)
        out = figures(p, runs)
        out |= {"incidents": n, "copies": COPIES, "threads": THREADS}
        out["wall_s"] = round(time.perf_counter() - started, 1)
        return out
