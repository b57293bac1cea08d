"""Debian's mosquitto, started on a free loopback port for tests and the demo."""

from __future__ import annotations

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


@dataclass(frozen=True)
class Broker:
    host: str
    port: int
    inflight: InFlight = field(default_factory=InFlight, compare=False, repr=False)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


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
        conf = Path(tmp) / "mosquitto.conf"
        conf.write_text(
            f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n"
            "log_dest none\n"
            # Nothing is dropped: a message counted as in flight must arrive (a 200-edge
            # storm queues hundreds of QoS 1 messages for the bridge at once).
            "max_queued_messages 0\nmax_inflight_messages 0\n"
        )
        proc = subprocess.Popen(
            [binary, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        try:
            deadline = time.monotonic() + 10
            while True:
                if proc.poll() is not None:
                    err = proc.stderr.read().decode() if proc.stderr else ""
                    raise BrokerUnavailable(f"mosquitto exited ({proc.returncode}): {err.strip()}")
                try:
                    with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                        break
                except OSError:
                    if time.monotonic() > deadline:
                        raise BrokerUnavailable(
                            f"mosquitto did not listen on {port} within 10 s"
                        ) from None
                    time.sleep(0.05)
            yield Broker("127.0.0.1", port)
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
