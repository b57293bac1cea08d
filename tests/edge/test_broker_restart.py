"""A broker restart while a command goes out to many edges (issue 19, part 5): every edge
acts on its command exactly once and every command is acknowledged.

The cloud side sends each command once per incident and step (the effect key of `Run.act`: a
retried send carries the same id); the broker is AWS IoT Core's stand-in, with persistent
sessions (clean session false) and QoS 1, so what is published while the broker is down or
an agent is cut off is delivered once it is back; the agent drops a second copy of a
command id (a QoS 1 redelivery, the same command published again) and acknowledges it
with the answer the first copy got. Every wait is on a signal (a publish counted, an
acknowledgement recorded, an action taken), never on a pause."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from local.broker import KEEPALIVE_SECONDS, Broker, reconnecting
from local.worlds import WorldSpec
from local.worlds.edge import CommandLog, EdgeSim, EdgeSiteSpec
from tests.edge.conftest import EdgeWorld

#: Edges the command goes to; the broker goes down right after the DOWN_AFTER-th publish
#: and comes back right after the UP_AFTER-th (the ones between are published while it is
#: down, the rest while the clients are still reconnecting).
EDGES, DOWN_AFTER, UP_AFTER = 20, 6, 12
SITE = "site-fanout-{:02d}"
EDGE = "edge-f{:02d}-001"


class _Watcher:
    """A subscriber (counted for nothing) with a persistent session, as the IoT rule's: it
    gets what arrives while the broker restarts."""

    def __init__(self, broker: Broker, topic: str = "lifo4/+/commands/ack") -> None:
        self.received: list[dict[str, Any]] = []
        self._cond = threading.Condition()
        self._client = reconnecting(
            mqtt.Client(CallbackAPIVersion.VERSION2, client_id="test-watcher", clean_session=False)
        )
        self._client.on_message = self._on_message
        ready = threading.Event()
        self._client.on_subscribe = lambda *args: ready.set()
        self._client.connect(broker.host, broker.port, keepalive=KEEPALIVE_SECONDS)
        self._client.subscribe(topic, qos=1)
        self._client.loop_start()
        assert ready.wait(30), f"the watcher could not subscribe to {topic}"

    def _on_message(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        with self._cond:
            self.received.append(json.loads(msg.payload))
            self._cond.notify_all()

    def wait_for(self, count: int, timeout: float = 30.0) -> list[dict[str, Any]]:
        return self.wait_until(lambda got: len(got) >= count, timeout)

    def wait_until(
        self, done: Callable[[list[dict[str, Any]]], bool], timeout: float = 30.0
    ) -> list[dict[str, Any]]:
        with self._cond:
            assert self._cond.wait_for(lambda: done(self.received), timeout), self.received
            return list(self.received)

    def stop(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()


@pytest.fixture
def acks(broker: Broker) -> Iterator[_Watcher]:
    watcher = _Watcher(broker)
    yield watcher
    watcher.stop()


def _send(broker: Broker, topic: str, body: dict[str, Any]) -> None:
    """One command on the broker, as the IoT data plane publishes it (counted in flight)."""
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"test-cloud-{body['commandId']}")
    client.connect(broker.host, broker.port, keepalive=KEEPALIVE_SECONDS)
    client.loop_start()
    try:
        broker.inflight.published(topic)
        client.publish(topic, json.dumps(body), qos=1).wait_for_publish(30)
    finally:
        client.disconnect()
        client.loop_stop()


def test_a_duplicate_command_is_acknowledged_but_not_acted_on(
    broker: Broker, acks: _Watcher
) -> None:
    """The same restart delivered twice (a QoS 1 redelivery after a reconnect, or the
    cloud publishing it again): the edge restarts once and acknowledges both copies with
    the same answer; another command id is acted on."""
    sim = EdgeSim("edge-dup-001", broker).start()
    try:
        topic = f"lifo4/{sim.edge_id}/commands/restart"
        body = {"commandId": "restart-0001", "command": "restart", "incidentId": "inc-1"}
        _send(broker, topic, body)
        _send(broker, topic, body)
        first, second = acks.wait_for(2)
        assert sim.wait_until(lambda: sim.acks["restart-0001"] == 2, 30)
        assert sim.wait_until(lambda: sim.restarts == 1 and sim.connected.is_set(), 30)
        assert (
            first
            == second
            == {
                "commandId": "restart-0001",
                "command": "restart",
                "result": "ok",
                "detail": "",
            }
        )
        assert sim.actions == {"restart-0001": 1}, "acted on once"
        assert sim.acks == {"restart-0001": 2}, "both copies acknowledged"
        assert sim.duplicates == ["restart-0001"]
        assert [c["commandId"] for c in sim.commands] == ["restart-0001"]

        _send(broker, topic, {**body, "commandId": "restart-0002"})
        assert acks.wait_for(3)[-1]["commandId"] == "restart-0002"
        assert sim.wait_until(lambda: sim.restarts == 2 and sim.connected.is_set(), 30), (
            "a new command id acts"
        )
        assert sim.actions == {"restart-0001": 1, "restart-0002": 1}
    finally:
        sim.stop()


def test_a_command_redelivered_after_a_broker_restart_is_acknowledged_not_acted_on(
    broker: Broker, acks: _Watcher
) -> None:
    """QoS 1 across a broker restart: the agent got the command, and the broker went down
    before its PUBACK. The broker kept the unacknowledged message in the agent's persistent
    session and sends it again (DUP) once the agent reconnects: the agent drops it and
    acknowledges it again; the edge restarted once."""
    sim = EdgeSim("edge-dup-002", broker).start_agent()
    agent = sim._agent
    assert agent is not None
    on_command = agent.on_message
    assert on_command is not None
    received, release = threading.Event(), threading.Event()

    def held_first(client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        if not received.is_set():  # the first copy: no PUBACK until the broker is down
            received.set()
            assert release.wait(30)
        on_command(client, userdata, msg)

    agent.on_message = held_first
    try:
        topic = f"lifo4/{sim.edge_id}/commands/restart"
        _send(broker, topic, {"commandId": "restart-0003", "command": "restart"})
        assert received.wait(30), "the agent got the command"
        broker.stop()
        release.set()
        broker.start()

        assert sim.wait_until(lambda: sim.acks["restart-0003"] == 2, 60), sim.acks
        assert sim.wait_until(lambda: sim.restarts == 1 and sim.connected.is_set(), 30)
        assert sim.duplicates == ["restart-0003"], "the redelivered copy was dropped"
        assert sim.actions == {"restart-0003": 1}
        assert sim.connections["edge-dup-002-agent"] == 2, "the agent reconnected by itself"
        assert [a["commandId"] for a in acks.wait_for(2)] == ["restart-0003"] * 2
    finally:
        release.set()
        sim.stop()


def test_a_controller_says_it_is_online_again_after_a_broker_restart(broker: Broker) -> None:
    """The broker going down drops the controller's connection and sends its last will (as
    IoT Core does when it ends a connection); the controller reconnects by itself and says
    it is online, so the cloud does not take the edge for offline."""
    sim = EdgeSim("edge-birth-001", broker, agent=False).start()
    status = _Watcher(broker, f"lifo4/{sim.edge_id}/status")
    try:
        broker.restart()
        # (QoS 1: the watcher may get the will twice, its PUBACK racing the shutdown)
        got = status.wait_until(lambda got: any(m["status"] == "online" for m in got))
        assert got[0] == {"status": "offline"}, "the last will, at the shutdown"
        assert {"status": "online", "firmwareVersion": "1.1.0"} in got
        assert sim.connected.is_set()
    finally:
        status.stop()
        sim.stop()


def test_the_agent_remembers_the_last_command_ids_only() -> None:
    """Bounded memory: past `size` ids the oldest is forgotten (it would act again)."""
    log = CommandLog(size=2)
    assert log.take("a") is None and log.take("b") is None
    assert log.take("a") is not None, "a duplicate"
    assert log.take("c") is None
    assert "a" not in log and len(log) == 2
    assert log.take("a") is None, "forgotten: taken as new"
    with pytest.raises(ValueError):
        CommandLog(size=0)


def _fan_out_world(make_edge_world: Any, monkeypatch: pytest.MonkeyPatch) -> EdgeWorld:
    # Every edge may be restarted at once here: the fleet caps are not what is tested.
    monkeypatch.setenv("SELFHEAL_EDGE_RESTARTS_PER_MINUTE", str(EDGES))
    monkeypatch.setenv("SELFHEAL_EDGE_RESTART_FLEET_PERCENT", "100")
    w: EdgeWorld = make_edge_world(
        WorldSpec(
            edgeSites=[
                EdgeSiteSpec(siteId=SITE.format(n), prefix=f"edge-f{n:02d}", count=1)
                for n in range(EDGES)
            ]
        )
    )
    for n in range(EDGES):
        # The controllers hang (never connected); the agents answer: what a restart is for.
        sim = EdgeSim(EDGE.format(n), w.broker, clock=w.pipeline.clock).start_agent()
        w.sims[sim.edge_id] = sim
    w.settle()
    return w


def _restart_broker_mid_fan_out(w: EdgeWorld) -> tuple[list[bool], Callable[[], None]]:
    """Wrap the IoT data plane's publish: the broker stops right after the DOWN_AFTER-th
    command went out and starts again right after the UP_AFTER-th. Returns whether the
    broker was up at each publish, and the undo."""
    extensions = w.pipeline.extensions
    publish = extensions.on_iot_publish
    assert publish is not None
    up_at_publish: list[bool] = []
    lock = threading.Lock()

    def publish_mid_restart(topic: str, payload: bytes) -> None:
        with lock:  # one publish at a time: the k-th is the k-th
            assert w.broker.server is not None
            up_at_publish.append(w.broker.server.running)
            publish(topic, payload)
            if len(up_at_publish) == DOWN_AFTER:
                w.broker.stop()
            elif len(up_at_publish) == UP_AFTER:
                w.broker.start()

    extensions.on_iot_publish = publish_mid_restart

    def undo() -> None:
        extensions.on_iot_publish = publish

    return up_at_publish, undo


def test_broker_restart_mid_fan_out_every_edge_acts_once(
    make_edge_world: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from selfheal_shared.core import effects
    from selfheal_shared.edge import edge_registry

    w = _fan_out_world(make_edge_world, monkeypatch)
    sims = [w.sims[EDGE.format(n)] for n in range(EDGES)]
    up_at_publish, undo = _restart_broker_mid_fan_out(w)
    command = w.pipeline.lambdas.handler_for("edge_command")
    clock = w.pipeline.clock
    step = clock.now().isoformat()  # one workflow step entered once for each incident

    def send(n: int) -> str:
        incident = {
            "incidentId": f"edge_offline_ladder-fanout-{n:02d}",
            "executionId": f"fanout-{n:02d}",
            "edgeId": EDGE.format(n),
            "siteId": SITE.format(n),
            "offlineSince": step,
        }
        out = command({"incident": incident, "command": "restart", "step": step}, None)
        assert out["queued"] is False, out
        return str(out["commandId"])

    # The broker restart takes no virtual time: the restarts the agents schedule (20 s of
    # virtual time) wait until every copy of every command has been through.
    with clock.held():
        with ThreadPoolExecutor(max_workers=4) as pool:  # ladders act concurrently
            ids = list(pool.map(send, range(EDGES)))
        undo()
        assert up_at_publish == [True] * DOWN_AFTER + [False] * (UP_AFTER - DOWN_AFTER) + [True] * (
            EDGES - UP_AFTER
        ), "published before, during and after the broker was down"
        assert len(set(ids)) == EDGES
        key = effects.key("edge_offline_ladder-fanout-03", "edge_restart", EDGE.format(3), step)
        assert ids[3] == f"restart-{key}", "the id is the effect's key: the same on a retry"

        def acknowledged() -> bool:
            return all(edge_registry.get(f"ack#{cid}") for cid in ids)

        assert clock.wait_until(acknowledged, 120), w.broker.inflight.describe()
        for sim in sims:  # each agent reconnected by itself, to the session it had
            assert sim.wait_until(lambda s=sim: s.connections[f"{s.edge_id}-agent"] == 2, 60)
        # The same commands published again (an SDK retry of the IoT Publish whose answer
        # was lost). Until each copy is handled; a broker's redelivery of the first copy
        # (QoS 1, after the reconnect) reached the agent before it: one publisher, one topic.
        for topic, payload in list(w.pipeline.extensions.iot_published):
            w.bridge.publish(topic, payload)
        w.settle()
        for cid, sim in zip(ids, sims, strict=True):
            assert sim.wait_until(
                lambda s=sim, c=cid: s.acks[c] == 1 + s.duplicates.count(c), 30
            ), f"{sim.edge_id}: {sim.acks[cid]} acknowledgements, {sim.duplicates} dropped"
    # Time moves again: each controller comes up 20 s (virtual) after its restart command.
    for sim in sims:
        assert sim.wait_until(lambda s=sim: s.restarts == 1 and s.connected.is_set(), 60)
    w.settle()

    assert w.broker.server is not None and w.broker.server.starts == 2
    for cid, sim in zip(ids, sims, strict=True):
        assert sim.actions == {cid: 1}, f"{sim.edge_id} acted once: {sim.actions}"
        assert [c["commandId"] for c in sim.commands] == [cid]
        copies = 1 + sim.duplicates.count(cid)
        assert sim.duplicates.count(cid) >= 1, "the second publish was dropped"
        assert sim.acks[cid] == copies, "every copy delivered was acknowledged"
        assert sim.restarts == 1 and sim.connected.is_set()
        ack = edge_registry.get(f"ack#{cid}") or {}
        assert (ack.get("edgeId"), ack.get("result")) == (sim.edge_id, "ok")
        assert (edge_registry.get(f"edge#{sim.edge_id}") or {}).get("state") == "online"
    assert w._ladder_runs() == [], "no edge was seen offline: the restart sent no last will"
    assert w.bridge.rejected == []
    dropped = sum(len(s.duplicates) for s in sims)
    print(
        f"\nbroker restart mid fan-out: {EDGES} edges, {len(up_at_publish)} publishes "
        f"({UP_AFTER - DOWN_AFTER} while the broker was down); duplicates dropped {dropped} "
        f"({EDGES} republished, {dropped - EDGES} QoS 1 redeliveries); "
        f"actions {sum(sum(s.actions.values()) for s in sims)}"
    )
