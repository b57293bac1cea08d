"""Debian's mosquitto, started on a free loopback port for tests and the demo."""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path


class BrokerUnavailable(RuntimeError):
    pass


@dataclass(frozen=True)
class Broker:
    host: str
    port: int


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
            "max_keepalive 60\nlog_dest none\n"
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
