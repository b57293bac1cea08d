"""Plays the IoT Core topic rules locally: subscribed to the real broker, it hands each
edge message to the same ingress function the rules call in AWS, and publishes the
workflows' commands (IoT data-plane `Publish`) back to the broker."""

from __future__ import annotations

import json
import queue
import threading
from typing import TYPE_CHECKING, Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from .broker import KEEPALIVE_SECONDS, Broker, reconnecting

if TYPE_CHECKING:
    from .host import Pipeline

RULE_TOPICS = (
    "lifo4/+/telemetry",
    "lifo4/+/status",
    "lifo4/+/commands/ack",
    "lifo4/+/alarms",
    "lifo4/provision/+/csr",
)
CLIENT_ID = "selfheal-iot-bridge"


class Bridge:
    def __init__(self, pipeline: Pipeline, broker: Broker) -> None:
        self.pipeline = pipeline
        self.broker = broker
        self.rejected: list[tuple[str, str]] = []  # (topic, error)
        #: Retained messages the broker replayed at subscribe time: not fresh signals.
        self.retained: list[str] = []
        self.delivered = 0
        self._inbox: queue.Queue[tuple[str, bytes, bool] | None] = queue.Queue()
        # A durable session, as an IoT rule's subscription is: a reconnect (a broker restart)
        # loses nothing, and what the workflows publish meanwhile waits in paho's queue.
        self._client = reconnecting(
            mqtt.Client(CallbackAPIVersion.VERSION2, client_id=CLIENT_ID, clean_session=False)
        )
        self._client.on_message = self._on_message
        self._client.on_connect = self._on_connect
        self._subscribed = False
        self._worker = threading.Thread(target=self._work, name="iot-rule-bridge", daemon=True)

    def start(self, timeout: float = 30.0) -> Bridge:
        clock, inflight = self.pipeline.clock, self.broker.inflight
        inflight.listeners.append(clock.touch)
        clock.busy_probes += [inflight.busy, self.busy]
        acked = threading.Event()
        pending = set(RULE_TOPICS)
        mids: dict[int, str] = {}
        lock = threading.Lock()

        def on_subscribe(client: mqtt.Client, userdata: Any, mid: int, *rest: Any) -> None:
            with lock:
                topic = mids.pop(mid, None)
                if topic is None:
                    return
                inflight.subscribed(CLIENT_ID, topic)
                pending.discard(topic)
                if not pending:
                    acked.set()

        self._client.on_subscribe = on_subscribe
        self._client.connect(self.broker.host, self.broker.port, keepalive=KEEPALIVE_SECONDS)
        self._client.loop_start()
        with lock:
            for topic in RULE_TOPICS:
                mid = self._client.subscribe(topic, qos=1)[1]
                assert mid is not None
                mids[mid] = topic
        if not acked.wait(timeout):
            raise TimeoutError(f"the broker did not acknowledge {sorted(pending)}")
        self._subscribed = True
        self._worker.start()
        self.pipeline.extensions.on_iot_publish = self.publish
        return self

    def _on_connect(self, client: mqtt.Client, userdata: Any, flags: Any, *rest: Any) -> None:
        """A reconnect finds its session at the broker (persistence on); subscribe again
        only if the broker lost it."""
        if self._subscribed and not flags.session_present:
            for topic in RULE_TOPICS:
                client.subscribe(topic, qos=1)

    def busy(self) -> bool:
        """Messages received but not yet handed to the ingress: time must not jump past them."""
        return self._inbox.unfinished_tasks > 0

    def stop(self) -> None:
        clock, inflight = self.pipeline.clock, self.broker.inflight
        self.pipeline.extensions.on_iot_publish = None
        inflight.gone(CLIENT_ID)
        for probe in (inflight.busy, self.busy):
            if probe in clock.busy_probes:
                clock.busy_probes.remove(probe)
        if clock.touch in inflight.listeners:
            inflight.listeners.remove(clock.touch)
        self._inbox.put(None)
        self._client.disconnect()
        self._client.loop_stop()
        self._worker.join(timeout=5)

    def publish(self, topic: str, payload: bytes) -> None:
        """Publish on the broker (the workflows' commands; tests' raw messages), counted as
        in flight until every subscriber handled it."""
        self.broker.inflight.published(topic)
        self._client.publish(topic, payload, qos=1)

    def _on_message(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        self._inbox.put((msg.topic, bytes(msg.payload), bool(msg.retain)))  # busy() from here on
        self.broker.inflight.handled(CLIENT_ID, msg.topic)

    def _work(self) -> None:
        ingress = self.pipeline.lambdas.handler_for("edge_ingress")
        while (item := self._inbox.get()) is not None:
            topic, raw, retained = item
            try:
                if retained:
                    # IoT Core rules fire on a publish, never on a retained copy replayed
                    # to a new subscription: an old "offline" is not news.
                    self.retained.append(topic)
                    continue
                ingress({"topic": topic, "payload": _decode(raw)}, None)
                self.delivered += 1
            except Exception as exc:  # the IoT rule's error action: keep it, move on
                self.rejected.append((topic, f"{type(exc).__name__}: {exc}"[:500]))
            finally:
                self._inbox.task_done()
                self.pipeline.clock.touch()


def _decode(raw: bytes) -> Any:
    """The payload as the IoT SQL `SELECT *` hands it over: a JSON value when it decodes,
    else the text (the ingress rejects it, naming why). Never raises: a message the
    parser chokes on (nesting deep enough for a RecursionError) must not end the worker."""
    text = raw.decode("utf-8", errors="replace")
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        return text
