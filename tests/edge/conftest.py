"""A real mosquitto, the local pipeline in scheduler-clock mode, the IoT bridge and
simulated edges. Helpers wait on the runtime's own signals (the clock's count of work and
messages in flight), never on real-time pauses."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from local.broker import Broker, mosquitto
from local.iot_jobs import JobsPlane
from local.mqtt_bridge import Bridge
from local.runtime import Pipeline
from local.worlds import World, WorldSpec
from local.worlds.edge import EdgeSim, EdgeSiteSpec, Failure, keep_reporting


@pytest.fixture
def broker() -> Iterator[Broker]:
    """A broker per test: a client id reused across tests would otherwise take over a
    lingering session, and the broker would publish that session's last will."""
    with mosquitto() as b:
        yield b


@dataclass
class EdgeWorld:
    pipeline: Pipeline
    bridge: Bridge
    broker: Broker
    sims: dict[str, EdgeSim] = field(default_factory=dict)
    #: The local AWS IoT Jobs data plane (OTA jobs' rollout, abort criteria).
    jobs: JobsPlane | None = None

    def start_edges(
        self, ids: list[str], *, failure: Failure = None, agent: bool = True, buffered: int = 0
    ) -> list[EdgeSim]:
        sims = [
            EdgeSim(
                e,
                self.broker,
                failure=failure,
                agent=agent,
                buffered_per_outage=buffered,
                clock=self.pipeline.clock,
            ).start()
            for e in ids
        ]
        self.sims.update({s.edge_id: s for s in sims})
        self.settle()
        return sims

    def reporting(
        self,
        sim: EdgeSim,
        *,
        seconds: float,
        every: float = 20.0,
        start: float = 0.0,
        before: Callable[[float], None] | None = None,
    ) -> None:
        """`sim` reports like a live edge (`keep_reporting`); call it with the clock held to
        start at an instant."""
        keep_reporting(
            self.pipeline.clock, sim, seconds=seconds, every=every, start=start, before=before
        )

    def outage(self, sims: list[EdgeSim]) -> None:
        """These edges drop at the same instant: virtual time stands still until every
        last will has been through the ingress."""
        with self.pipeline.clock.held():
            for sim in sims:
                sim.kill()
            self.settle()

    def wait_for_event(self, match: Any, timeout: float = 120.0) -> dict[str, Any]:
        """The first routed event that matches (the broker and bridge take real time)."""
        found: list[dict[str, Any]] = []

        def routed() -> bool:
            found[:] = [
                dict(j.data["event"])
                for j in list(self.pipeline.journal)
                if j.kind == "event" and match(j.data["event"])
            ][:1]
            return bool(found)

        if not self.pipeline.clock.wait_until(routed, timeout):
            raise TimeoutError("no matching event was routed")
        return found[0]

    def publish(self, topic: str, payload: str) -> None:
        """A raw message on the broker, as if an edge had sent it."""
        self.bridge.publish(topic, payload.encode())

    def settle(self, timeout: float = 300.0) -> None:
        """Until every message in flight has been handled and every execution is parked or
        done."""
        if not self.pipeline.clock.wait_quiet(timeout):
            raise TimeoutError(f"still working after {timeout:.0f} s: {self._state()}")

    def _state(self) -> str:
        return f"{self.pipeline.clock.describe()}; {self.broker.inflight.describe()}"

    def _ladder_runs(self, workflow: str = "edge_offline_ladder") -> list[dict[str, Any]]:
        sfn = self.pipeline.client("stepfunctions")
        arn = self.pipeline.state_machines[workflow]
        return [
            e
            for p in sfn.get_paginator("list_executions").paginate(stateMachineArn=arn)
            for e in p["executions"]
        ]

    def ladders(
        self, *, finished: int, timeout: float = 300.0, workflow: str = "edge_offline_ladder"
    ) -> list[dict[str, Any]]:
        """Summaries of `workflow`'s executions (the ladder's by default), once `finished` of
        them have ended and nothing else is on its way (one about to start has started)."""
        clock = self.pipeline.clock
        deadline = time.monotonic() + timeout
        epoch: int | None = None
        while True:
            # Look again only after a moment when nothing was working, newer than the last look.
            if not clock.wait_quiet(max(0.0, deadline - time.monotonic()), after=epoch):
                done = sum(1 for r in self._ladder_runs(workflow) if r["status"] != "RUNNING")
                raise TimeoutError(f"{done} of {finished} {workflow} finished; {self._state()}")
            epoch = clock.quiet_epoch()
            runs = self._ladder_runs(workflow)
            if sum(1 for r in runs if r["status"] != "RUNNING") >= finished:
                return self.pipeline.execution_summaries([r["executionArn"] for r in runs])

    def pages(self) -> list[dict[str, Any]]:
        return [n for n in self.pipeline.notifications() if n["level"] in ("l1", "l2", "l3")]

    def commands_sent(self) -> list[str]:
        return [t for t, _ in self.pipeline.extensions.iot_published]


@pytest.fixture
def edge_world_spec() -> WorldSpec:
    return WorldSpec(
        edgeSites=[
            EdgeSiteSpec(siteId="site-campinas", prefix="edge-cps", count=4),
            EdgeSiteSpec(siteId="site-recife", prefix="edge-rec", count=3),
        ]
    )


@pytest.fixture
def make_edge_world(broker: Broker) -> Iterator[Any]:
    made: list[tuple[Pipeline, Bridge, EdgeWorld]] = []

    def make(spec: WorldSpec, **pipeline: Any) -> EdgeWorld:
        p = Pipeline(world=World(spec), scheduler=True, **pipeline)
        p.__enter__()
        bridge = Bridge(p, broker).start()
        world = EdgeWorld(p, bridge, broker, jobs=JobsPlane(p, broker).start())
        made.append((p, bridge, world))
        return world

    yield make
    for p, bridge, world in made:
        # Time stands still and the work under way ends while the edges still answer it
        # (a command waiting on a stopped edge's reply would wait out its timeout).
        p.clock.wind_down(timeout=60.0)
        for sim in world.sims.values():
            sim.stop()
        if world.jobs is not None:
            world.jobs.stop()
        bridge.stop()
        p.__exit__(None, None, None)


@pytest.fixture
def edge_world(make_edge_world: Any, edge_world_spec: WorldSpec) -> EdgeWorld:
    return make_edge_world(edge_world_spec)
