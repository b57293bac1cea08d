"""What the services world's hosts share: their apps run by pm2 as the app's user (the
described service's `ssm.runAs`, logged in: its environment only, its own `~/.pm2`) from
the app's directory (`ssm.directory`), real faults on them, and waiting for a port."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import TYPE_CHECKING

from selfheal_shared.services import service_spec

if TYPE_CHECKING:
    from local.world_api import Host

READY_SECONDS = 15.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_port(port: int, what: str, seconds: float = READY_SECONDS) -> None:
    """Until something accepts connections on the port (a process starting), bounded."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with socket.socket() as s:
            s.settimeout(0.5)
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise TimeoutError(f"{what}: port {port} not listening after {seconds:g} s")


class Pm2Apps:
    """Mixed into a host of this world: `host` is its managed host once built."""

    host: Host | None
    #: The app's user and directory (`ssm.runAs`, `ssm.directory`), set by `settle`.
    user: str = "root"
    directory: str = ""

    def settle(self, host: Host, described: str, **profile: str) -> Path:
        """The host's app user (from the described service's `ssm`; its `~/.profile`
        exports `profile`) and the app's directory, made; returns the directory."""
        spec = service_spec.load()[described]
        assert spec.ssm is not None
        self.host, self.user, self.directory = host, spec.ssm.runAs, spec.ssm.directory
        host.add_user(self.user, profile)
        self.app_dir.mkdir(parents=True, exist_ok=True)
        return self.app_dir

    @property
    def app_dir(self) -> Path:
        assert self.host is not None
        return self.host.home(self.user) / self.directory

    def pm2(self, *args: str, **env_vars: str) -> subprocess.CompletedProcess[str]:
        assert self.host is not None
        env = {**self.host.environment(self.user), **env_vars}
        return subprocess.run(
            ["pm2", *args], cwd=self.app_dir, env=env, capture_output=True, text=True,
            timeout=60, check=True,
        )  # fmt: skip

    def apps(self) -> list[dict[str, object]]:
        out = self.pm2("jlist").stdout
        return [dict(a) for a in json.loads(out[out.find("[") :] or "[]")]

    def online(self, app: str) -> bool:
        return any(
            a["name"] == app and dict(a["pm2_env"]).get("status") == "online"  # type: ignore[call-overload]
            for a in self.apps()
        )

    def pid(self, app: str) -> int:
        """The app's process id. Never 0: `os.kill(0, ...)` would signal our own group."""
        pid = int(self.pm2("pid", app).stdout.strip() or 0)
        if pid <= 0:
            raise ProcessLookupError(f"{app} is not running under pm2")
        return pid

    def kill_app(self, app: str) -> None:
        """The process dies (`kill -9`), and pm2 has seen it go."""
        try:
            pid = self.pid(app)
        except ProcessLookupError:
            return  # already down: killing it again changes nothing
        os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + READY_SECONDS
        while self.online(app) and time.monotonic() < deadline:
            time.sleep(0.05)  # pm2 notices the exit on its own schedule

    def freeze(self, app: str) -> None:
        """Alive and doing nothing (`SIGSTOP`): only a timeout tells."""
        os.kill(self.pid(app), signal.SIGSTOP)

    def remove(self, app: str) -> None:
        """The app is gone from the process manager: restarting it fails."""
        self.pm2("delete", app)

    def kill_everything(self) -> None:
        """Disposable: every app killed outright (pm2 would give each its kill_timeout), a
        frozen one too, then the daemon."""
        with contextlib.suppress(subprocess.SubprocessError, OSError, ValueError):
            for app in self.apps():
                pid = app.get("pid")
                if isinstance(pid, int) and pid > 0:
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGCONT)
                        os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.SubprocessError, OSError):
            self.pm2("kill")
