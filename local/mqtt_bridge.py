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

from .broker import Broker

if TYPE_CHECKING:
    from .runtime import Pipeline

RULE_TOPICS = ("lifo4/+/telemetry", "lifo4/+/status", "lifo4/+/commands/ack")


class Bridge:
    def __init__(self, pipeline: Pipeline, broker: Broker) -> None:
        self.pipeline = pipeline
        self.broker = broker
        self.rejected: list[tuple[str, str]] = []  # (topic, error)
        self.delivered = 0
        self._inbox: queue.Queue[tuple[str, bytes] | None] = queue.Queue()
        self._client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="selfheal-iot-bridge")
        self._client.on_message = lambda c, u, msg: self._inbox.put((msg.topic, bytes(msg.payload)))
        self._worker = threading.Thread(target=self._work, name="iot-rule-bridge", daemon=True)
        self._idle = threading.Event()

    def start(self) -> Bridge:
        self._client.connect(self.broker.host, self.broker.port, keepalive=30)
        for topic in RULE_TOPICS:
            self._client.subscribe(topic, qos=1)
        self._client.loop_start()
        self._worker.start()
        self.pipeline.extensions.on_iot_publish = self.publish
        self.pipeline.clock.busy_probes.append(self.busy)
        return self

    def busy(self) -> bool:
        """Messages received but not yet handed to the ingress: time must not jump past them."""
        return self._inbox.unfinished_tasks > 0

    def stop(self) -> None:
        self.pipeline.extensions.on_iot_publish = None
        if self.busy in self.pipeline.clock.busy_probes:
            self.pipeline.clock.busy_probes.remove(self.busy)
        self._inbox.put(None)
        self._client.loop_stop()
        self._client.disconnect()
        self._worker.join(timeout=5)

    def publish(self, topic: str, payload: bytes) -> None:
        self._client.publish(topic, payload, qos=1)

    def _work(self) -> None:
        ingress = self.pipeline.lambdas.handler_for("edge_ingress")
        while (item := self._inbox.get()) is not None:
            topic, raw = item
            try:
                text = raw.decode("utf-8")
                payload: Any = json.loads(text)
            except (UnicodeDecodeError, json.JSONDecodeError):
                payload = raw.decode("utf-8", errors="replace")
            try:
                ingress({"topic": topic, "payload": payload}, None)
                self.delivered += 1
            except Exception as exc:  # the IoT rule's error action: keep it, move on
                self.rejected.append((topic, f"{type(exc).__name__}: {exc}"))
            finally:
                self._inbox.task_done()

    def drain(self, timeout: float = 5.0) -> None:
        """Wait until every message received so far has been handed to the ingress."""
        done = threading.Event()

        def join() -> None:
            self._inbox.join()
            done.set()

        threading.Thread(target=join, daemon=True).start()
        done.wait(timeout)
