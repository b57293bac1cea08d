"""The edge domain's scenes: the samples' edge on a real broker (mosquitto, the IoT rules'
bridge, the simulated controller), which the battery scenes use too; the hung controller
the offline ladder restarts; and the demo's story of a site's edges, one of which dies."""

from __future__ import annotations

import json
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from typing import Any

from local.world_api import (
    KEEPALIVE_SECONDS,
    Act,
    Bridge,
    Broker,
    Pipeline,
    Scene,
    mosquitto,
)

from .sim import EdgeSim
from .sites import EdgeWorld

#: The samples' edge and site (events/samples/*: edge-cps-002 at site-campinas).
EDGE = "edge-cps-002"


def sample_edge(
    p: Pipeline, stack: ExitStack, *, bridge_first: bool = True, **state: object
) -> EdgeSim:
    """mosquitto, the IoT rules' bridge and the sample's edge on it, in `state` (EdgeSim
    attributes). With `bridge_first=False` the edge connects before the bridge subscribes:
    what it said before (its last will) is not news to the pipeline."""
    broker = stack.enter_context(mosquitto())

    def bridge() -> None:
        b = Bridge(p, broker).start()
        stack.callback(b.stop)

    if bridge_first:
        bridge()
    sim = EdgeSim(EDGE, broker, clock=p.clock)
    for key, value in state.items():
        setattr(sim, key, value)
    stack.callback(sim.stop)
    sim.start()
    if not bridge_first:
        with _last_will_seen(broker):
            sim.kill()  # the controller hangs; its agent still answers
        bridge()
    if not p.clock.wait_quiet(60):
        raise TimeoutError(f"{EDGE}'s first messages were not handled in 60 s")
    return sim


@contextmanager
def _last_will_seen(broker: Broker) -> Iterator[None]:
    """Returns once the broker has sent the edge's last will (to a watcher that counts for
    nothing): a bridge subscribing later cannot receive it."""
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    subscribed, offline = threading.Event(), threading.Event()

    def on_message(client: mqtt.Client, userdata: object, msg: mqtt.MQTTMessage) -> None:
        if json.loads(msg.payload).get("status") == "offline":
            offline.set()

    watcher = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"demo-{EDGE}-watcher")
    watcher.on_message = on_message
    watcher.on_subscribe = lambda *args: subscribed.set()
    watcher.connect(broker.host, broker.port, keepalive=KEEPALIVE_SECONDS)
    watcher.subscribe(f"lifo4/{EDGE}/status", qos=1)
    watcher.loop_start()
    try:
        if not subscribed.wait(30):
            raise TimeoutError("the demo's watcher could not subscribe")
        yield
        if not offline.wait(30):
            raise TimeoutError(f"the broker never sent {EDGE}'s last will")
    finally:
        watcher.disconnect()
        watcher.loop_stop()


def _hung_controller(p: Pipeline, stack: ExitStack) -> None:
    """The controller's process hung (its last will went out); the agent answers probes
    and restarts it (runbook 000 §1)."""
    sample_edge(p, stack, bridge_first=False)


def _outage(p: Pipeline, stack: ExitStack) -> Callable[[], list[str]]:
    """A real broker, the first site's simulated edges; one of them dies, the ladder brings
    it back."""
    assert isinstance(p.world, EdgeWorld)
    site = p.world.spec.edgeSites[0]
    broker = stack.enter_context(mosquitto())
    bridge = Bridge(p, broker).start()
    stack.callback(bridge.stop)
    sims = []
    for edge_id in site.edge_ids():
        sim = EdgeSim(edge_id, broker, buffered_per_outage=12, clock=p.clock)
        stack.callback(sim.stop)
        sims.append(sim.start())
    if not p.clock.wait_quiet(60):
        raise SystemExit("selfheal: the edges' first messages were not handled in 60 s")

    def happen() -> list[str]:
        print(f"{len(sims)} edges online at {site.siteId}; killing {sims[0].edge_id}'s controller")
        sims[0].kill()
        sfn, arn = p.client("stepfunctions"), p.state_machines["edge_offline_ladder"]
        runs: list[dict[str, Any]] = []

        def ended() -> bool:
            nonlocal runs
            runs = sfn.list_executions(stateMachineArn=arn)["executions"]
            return bool(runs) and all(r["status"] != "RUNNING" for r in runs)

        if not p.clock.wait_until(ended, 60):
            print("the ladder did not finish within 60 s", file=sys.stderr)
        p.clock.wait_quiet(60)
        return [r["executionArn"] for r in runs]

    return happen


SCENES = {"edge_offline_ladder": Scene(_hung_controller, scheduler=True)}
ACTS = [
    Act(
        "edge controller goes silent (mosquitto + simulated edges)",
        _outage,
        without=("services", "ingestion"),
    )
]
