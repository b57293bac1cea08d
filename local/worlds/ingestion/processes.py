"""Child processes on 127.0.0.1 a world starts and kills (the api world's mapper): each
prints `listening on <port>` once its socket is bound (free ports: bind 0), which is the
signal waited on; `Processes` kills every one it started."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
READY = "listening on "


@dataclass
class Process:
    """One child process on 127.0.0.1; `port` is kept across restarts (the same URL)."""

    args: list[str]
    port: int = 0
    popen: subprocess.Popen[str] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def running(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def start(self) -> Process:
        self.popen = subprocess.Popen(
            [sys.executable, *self.args, "--port", str(self.port)],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        assert self.popen.stdout is not None
        # The child's own signal, printed once its socket is bound and listening: a connection
        # from now on is accepted (and queued until it serves).
        line = self.popen.stdout.readline()
        if not line.startswith(READY):
            self.kill()
            raise RuntimeError(f"{self.args} did not start: {line!r}")
        self.port = int(line[len(READY) :])
        return self

    def kill(self) -> None:
        if self.popen is not None:
            self.popen.kill()
            self.popen.wait(timeout=10)
            if self.popen.stdout:
                self.popen.stdout.close()
            self.popen = None


@dataclass
class Processes:
    """Every process a test started, killed at the end whatever happened."""

    started: dict[str, Process] = field(default_factory=dict)

    def add(self, name: str, proc: Process) -> Process:
        self.started[name] = proc.start()
        return proc

    def kill_all(self) -> None:
        for proc in self.started.values():
            proc.kill()
