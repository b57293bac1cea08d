"""The edge offline ladder driven as tests/edge drives it: Debian's mosquitto, the local
IoT bridge, simulated edges and the pipeline in scheduler-clock mode.

`outage("hardware")` is the 60-minute ladder (an edge that never comes back: pages at 10,
30 and 60 minutes); `outage(None)` the common path, an edge back after its restart.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from local.broker import Broker, mosquitto
from local.mqtt_bridge import Bridge
from local.runtime import Pipeline
from local.worlds import World, WorldSpec
from local.worlds.edge import EdgeSim, EdgeSiteSpec, Failure

from .transitions import state_transitions

WORKFLOW = "edge_offline_ladder"
EDGE = "edge-cps-001"
MODELLED_S = 3600  # the ladder's last page, L3, is due 60 minutes into the outage
SPEC = WorldSpec(edgeSites=[EdgeSiteSpec(siteId="site-campinas", prefix="edge-cps", count=4)])


@dataclass
class Outage:
    summary: dict[str, Any]
    transitions: int
    wall_s: float
    virtual_s: float


@contextmanager
def _edge_world() -> Iterator[tuple[Pipeline, Broker, Bridge]]:
    """The whole spec, as tests/edge has it: the bridge calls edge_ingress, which no ASL
    names, and the ladder's events may start other workflows."""
    with mosquitto() as broker, Pipeline(world=World(SPEC), scheduler=True) as p:
        bridge = Bridge(p, broker).start()
        try:
            yield p, broker, bridge
        finally:
            bridge.stop()


def _finished(p: Pipeline, timeout: float) -> list[dict[str, Any]]:
    """Ladder executions once at least one has started and none is still running (checked
    on the runtime's own signals, not on a timer)."""
    sfn, arn = p.client("stepfunctions"), p.state_machines[WORKFLOW]

    def done() -> bool:
        runs = sfn.list_executions(stateMachineArn=arn)["executions"]
        return bool(runs) and all(r["status"] != "RUNNING" for r in runs)

    if not p.clock.wait_until(done, timeout):
        raise TimeoutError(f"the ladder did not finish in {timeout:.0f} s")
    runs = sfn.list_executions(stateMachineArn=arn)["executions"]
    return [p.execution_summary(r["executionArn"]) for r in runs]


def outage(failure: Failure, timeout: float = 600.0) -> Outage:
    """Kill one edge's controller (its last will goes out) and time the ladder to its end."""
    with _edge_world() as (p, broker, _bridge):
        sim = EdgeSim(EDGE, broker, failure=failure, clock=p.clock).start()
        try:
            if not p.clock.wait_quiet(60):  # the online status has been through the ingress
                raise TimeoutError("the edge's online status never settled")
            virtual_start = p.clock.now()
            started = time.perf_counter()
            sim.kill()
            [summary] = _finished(p, timeout)
            wall = time.perf_counter() - started
            return Outage(
                summary=summary,
                transitions=state_transitions(p, summary["executionArn"]),
                wall_s=wall,
                virtual_s=(p.clock.now() - virtual_start).total_seconds(),
            )
        finally:
            sim.stop()
