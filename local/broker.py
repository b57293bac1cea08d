"""Debian's mosquitto, started on a free loopback port for tests and the demo."""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.client import topic_matches_sub

#: MQTT keepalive of every local client. Outages are simulated explicitly (a killed
#: controller's socket); a keepalive lapse on a loaded machine would be an unplanned one.
KEEPALIVE_SECONDS = 900


class BrokerUnavailable(RuntimeError):
    pass


class InFlight:
    """MQTT messages on their way: published, and not yet handled by every subscriber that
    will get them. The broker says nothing about delivery, so the local world's publishers
    and subscribers (bridge, simulated edges) report here, and the virtual clock does not
    jump while anything is in flight. Counts are per subscriber and topic: a publisher
    counts before it publishes, a subscriber hands over to its own busy count before it
    says `handled`."""

    def __init__(self) -> None:
        self._lock = threading.Condition()
        self._filters: dict[str, list[str]] = {}  # subscriber -> topic filters
        self._pending: Counter[tuple[str, str]] = Counter()
        self.total = 0  # read without the lock by the clock's probe
        #: Called after every change (outside the lock): the clock's `touch`.
        self.listeners: list[Callable[[], None]] = []

    def subscribed(self, subscriber: str, topic_filter: str) -> None:
        """Call once the broker acknowledged the subscription (SUBACK)."""
        with self._lock:
            self._filters.setdefault(subscriber, []).append(topic_filter)

    def gone(self, subscriber: str) -> None:
        with self._lock:
            self._filters.pop(subscriber, None)
            for key in [k for k in self._pending if k[0] == subscriber]:
                self.total -= self._pending.pop(key)
        self._notify()

    def published(self, topic: str) -> int:
        """A message (or a last will) is about to go out on `topic`; returns how many
        subscribers will get it."""
        with self._lock:
            receivers = [
                s for s, filters in self._filters.items()
                if any(topic_matches_sub(f, topic) for f in filters)
            ]  # fmt: skip
            for subscriber in receivers:
                self._pending[(subscriber, topic)] += 1
            self.total += len(receivers)
        self._notify()
        return len(receivers)

    def handled(self, subscriber: str, topic: str) -> None:
        with self._lock:
            key = (subscriber, topic)
            if self._pending[key] > 0:  # a message nobody counted (a foreign publisher)
                self._pending[key] -= 1
                self.total -= 1
            if not self._pending[key]:
                self._pending.pop(key, None)
        self._notify()

    def busy(self) -> bool:
        return self.total > 0

    def describe(self) -> str:
        with self._lock:
            pending = ", ".join(f"{s} {t} x{n}" for (s, t), n in sorted(self._pending.items()))
        return f"in flight: {pending or 'nothing'}"

    def wait_delivered(self, topic: str, timeout: float) -> bool:
        """Until every counted message on `topic` has been handled. False on timeout."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while any(t == topic for _, t in self._pending):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._lock.wait(remaining)
            return True

    def _notify(self) -> None:
        with self._lock:
            self._lock.notify_all()
        for listener in list(self.listeners):
            listener()


class Mosquitto:
    """One mosquitto process on a fixed loopback port, stoppable and startable again on the
    same port (a broker restart). Persistence is on: a graceful stop (SIGTERM) writes the
    persistent sessions (clean session false: their subscriptions and the QoS 1 messages
    queued or in flight to them) to `mosquitto.db`, and the next start reads them back, as
    AWS IoT Core keeps a persistent session's QoS 1 messages for a disconnected client.
    A SIGKILL would lose what arrived since the last save: `stop` never sends one first."""

    def __init__(self, binary: str, port: int, directory: Path) -> None:
        self.binary = binary
        self.port = port
        self.conf = directory / "mosquitto.conf"
        self.conf.write_text(
            f"listener {port} 127.0.0.1\nallow_anonymous true\n"
            f"persistence true\npersistence_location {directory}/\n"
            # Run as whoever runs the tests: as root mosquitto would otherwise switch to the
            # `mosquitto` user, which cannot write its database in this directory.
            f"user {pwd.getpwuid(os.geteuid()).pw_name}\n"
            "log_dest none\n"
            # Nothing is dropped: a message counted as in flight must arrive (a 200-edge
            # storm queues hundreds of QoS 1 messages for the bridge at once).
            "max_queued_messages 0\nmax_inflight_messages 0\n"
        )
        self._proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self, timeout: float = 10.0) -> None:
        if self._proc is not None:
            raise RuntimeError(f"mosquitto is already running on {self.port}")
        proc = subprocess.Popen(
            [self.binary, "-c", str(self.conf)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        self._proc = proc
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                self._proc = None
                err = proc.stderr.read().decode() if proc.stderr else ""
                raise BrokerUnavailable(f"mosquitto exited ({proc.returncode}): {err.strip()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    self.stop()
                    raise BrokerUnavailable(
                        f"mosquitto did not listen on {self.port} within {timeout:.0f} s"
                    ) from None
                time.sleep(0.05)
        self.starts += 1

    def stop(self) -> None:
        """SIGTERM and wait: mosquitto saves its persistent sessions on the way out (and, like
        a server dropping its connections, publishes the last will of every client connected
        at that moment)."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stderr is not None:
            proc.stderr.close()

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None


@dataclass(frozen=True)
class Broker:
    host: str
    port: int
    inflight: InFlight = field(default_factory=InFlight, compare=False, repr=False)
    #: The process behind it, when this helper started it (what `stop`/`start` act on).
    server: Mosquitto | None = field(default=None, compare=False, repr=False)

    def _server(self) -> Mosquitto:
        if self.server is None:
            raise BrokerUnavailable("this broker was not started here: it cannot be restarted")
        return self.server

    def stop(self) -> None:
        """The broker goes down (gracefully: its persistent sessions are saved). Every client
        loses its connection; the local ones reconnect by themselves (paho's reconnect)."""
        self._server().stop()

    def start(self) -> None:
        """The broker comes back on the same port with the sessions it saved."""
        self._server().start()

    def restart(self) -> None:
        self.stop()
        self.start()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def publish_qos1(client: mqtt.Client, topic: str, payload: str | bytes, timeout: float) -> None:
    """Publish at QoS 1 and wait (up to `timeout`) for the broker's PUBACK, also across a
    reconnect: paho keeps a QoS 1 message published while its connection is down and sends
    it once reconnected, but marks it `MQTT_ERR_NO_CONN`, which `wait_for_publish` would
    raise on at once."""
    info = client.publish(topic, payload, qos=1)
    if info.rc == mqtt.MQTT_ERR_NO_CONN:
        info.rc = mqtt.MQTT_ERR_SUCCESS  # queued by paho, sent on reconnect
    info.wait_for_publish(timeout)


def reconnecting(client: mqtt.Client) -> mqtt.Client:
    """Reconnect soon after a lost connection (a broker restart): paho's own loop retries
    from 1 s, doubling up to 2 s here instead of 2 minutes."""
    client.reconnect_delay_set(min_delay=1, max_delay=2)
    return client


@contextmanager
def mosquitto() -> Iterator[Broker]:
    binary = shutil.which("mosquitto") or (
        "/usr/sbin/mosquitto" if Path("/usr/sbin/mosquitto").exists() else None
    )
    if binary is None:
        raise BrokerUnavailable(
            "mosquitto is not installed (Debian package 'mosquitto'; `make setup` installs it)"
        )
    port = _free_port()
    with tempfile.TemporaryDirectory(prefix="selfheal-mqtt-") as tmp:
        server = Mosquitto(binary, port, Path(tmp))
        server.start()
        try:
            yield Broker("127.0.0.1", port, server=server)
        finally:
            server.stop()
