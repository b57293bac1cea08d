"""The inference host (runbook 003 §4.1): a managed host (`selfheal:host=inference`) whose
process manager runs `face_analyzer` for real, with `systemctl` and `journalctl` on its
PATH as thin commands over pm2 (no systemd here). Faults are real: the process killed
(`kill -9`: the unit is failed, as a unit without `Restart=` stays), frozen (`SIGSTOP`:
running, answering nothing), a configuration it cannot start with, the unit gone."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from local.world_api import Host, Pipeline

HERE = Path(__file__).resolve().parent
TAG = ("selfheal:host", "inference")
UNIT = "face_analyzer"
#: The described service (services/inference.json) the unit is.
DESCRIBED = {UNIT: "inference"}
READY_SECONDS = 10.0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class InferenceHost:
    pipeline: Pipeline
    host: Host | None = None
    ports: dict[str, int] = field(default_factory=dict)

    def build(self) -> InferenceHost:
        self.ports = {"INFERENCE_PORT": _free_port()}
        host = self.pipeline.add_host(
            "inference", {TAG[0]: TAG[1]}, {"INFERENCE_PORT": str(self.ports["INFERENCE_PORT"])}
        )
        host.env["PM2_HOME"] = str(host.root / "pm2")
        host.closers.append(self.close)
        self.host = host
        for program in ("systemctl", "journalctl"):
            host.add_command(
                program,
                f'#!/bin/sh\nexec "{sys.executable}" "{HERE / "systemd.py"}" {program} "$@"\n',
            )
        units = {UNIT: {"port": self.ports["INFERENCE_PORT"], "description": "Face analyzer"}}
        (host.root / "units.json").write_text(json.dumps(units, indent=1))
        (host.root / "face_analyzer.env").write_text("")
        app = {
            "name": UNIT,
            "script": str(HERE / "app.py"),
            "interpreter": sys.executable,
            "cwd": str(host.root),
            "autorestart": False,  # a unit without Restart=: a killed service stays down
            "kill_timeout": 3000,
            # Named here, where journalctl reads them (pm2 would write "face-analyzer-*").
            **{
                f"{pm2_key}_file": str(host.root / "logs" / f"{UNIT}-{stream}.log")
                for pm2_key, stream in (("out", "out"), ("error", "error"))
            },
        }
        (host.root / "ecosystem.json").write_text(json.dumps({"apps": [app]}, indent=1))
        for stream in ("out", "error"):
            host.log_files[f"logs/{UNIT}-{stream}.log"] = "/selfheal/services/inference"
        return self

    # -- running -----------------------------------------------------------------------

    def pm2(self, *args: str) -> subprocess.CompletedProcess[str]:
        """pm2 as the host's own user runs it: the host's environment only."""
        assert self.host is not None
        return subprocess.run(
            ["pm2", *args], cwd=self.host.root, env=self.host.environment(),
            capture_output=True, text=True, timeout=60, check=True,
        )  # fmt: skip

    def start_all(self) -> None:
        assert self.host is not None
        self.pm2("start", str(self.host.root / "ecosystem.json"))
        self._wait_port()

    def pid(self, app: str = UNIT) -> int:
        """The unit's main pid. Never 0: `os.kill(0, ...)` would signal our own group."""
        pid = int(self.pm2("pid", app).stdout.strip() or 0)
        if pid <= 0:
            raise ProcessLookupError(f"{app} is not running under pm2")
        return pid

    def kill(self, app: str = UNIT) -> None:
        """The process dies (`kill -9`): `systemctl status` says failed."""
        try:
            pid = self.pid(app)
        except ProcessLookupError:
            return
        os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + READY_SECONDS
        while self._online(app) and time.monotonic() < deadline:
            time.sleep(0.05)  # pm2 notices the exit on its own schedule

    def freeze(self, app: str = UNIT) -> None:
        """Running and answering nothing (`SIGSTOP`): only a timeout tells."""
        os.kill(self.pid(app), signal.SIGSTOP)

    def break_config(self, app: str, reason: str) -> None:
        """A configuration the service cannot start with, read at its next start."""
        assert self.host is not None
        with (self.host.root / "face_analyzer.env").open("a") as env:
            env.write(f"FACE_ANALYZER_BROKEN={reason}\n")

    def fix_config(self) -> None:
        """What people do after the page: the configuration fixed, the unit restarted."""
        assert self.host is not None
        (self.host.root / "face_analyzer.env").write_text("")
        self.pm2("restart", UNIT)
        self._wait_port()

    def remove(self, app: str = UNIT) -> None:
        """The unit is gone: `systemctl restart` says it is not found."""
        self.pm2("delete", app)

    def close(self) -> None:
        if self.host is None:
            return
        with contextlib.suppress(subprocess.SubprocessError, OSError, ValueError):
            for app in self._apps():
                pid = app.get("pid")
                if isinstance(pid, int) and pid > 0:
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGCONT)
                        os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.SubprocessError, OSError):
            self.pm2("kill")
        self.host = None

    def _apps(self) -> list[dict[str, object]]:
        out = self.pm2("jlist").stdout
        return [dict(a) for a in json.loads(out[out.find("[") :] or "[]")]

    def _online(self, app: str) -> bool:
        return any(
            a["name"] == app and dict(a["pm2_env"]).get("status") == "online"  # type: ignore[call-overload]
            for a in self._apps()
        )

    def _wait_port(self) -> None:
        deadline = time.monotonic() + READY_SECONDS
        while time.monotonic() < deadline:
            with socket.socket() as s:
                s.settimeout(0.5)
                if s.connect_ex(("127.0.0.1", self.ports["INFERENCE_PORT"])) == 0:
                    return
            time.sleep(0.05)
        raise TimeoutError(f"{UNIT} not listening after {READY_SECONDS:g} s")
