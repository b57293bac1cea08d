"""One real InfluxDB (Debian's `influxd`, 1.x) for a test module or a demo: the data
platform's time-series store (runbook 001's `energy_data`; Amazon Timestream for InfluxDB
in AWS). A runtime stand-in like `postgres.py`, offered to the worlds by
`local/world_api.py`.

It listens on 127.0.0.1 only, on ports picked free (HTTP, and the backup RPC service
influxd always opens), with its own data directory, authentication on (an admin the world
writes with; a read-only user per database for the Lambda, its password in Secrets
Manager), and nothing else running (no reporting, no `_internal` monitor store). Readiness
is its `/ping` answering 204, checked when its log says it listens: never a sleep."""

from __future__ import annotations

import atexit
import base64
import json
import secrets
import shutil
import socket
import subprocess
import tempfile
import threading
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

BINARY = shutil.which("influxd")
READY_SECONDS = 30.0
ADMIN = "selfheal-admin"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _config(root: Path, http_port: int, rpc_port: int) -> str:
    return f"""reporting-disabled = true
bind-address = "127.0.0.1:{rpc_port}"
[meta]
  dir = "{root}/meta"
  logging-enabled = false
[data]
  dir = "{root}/data"
  wal-dir = "{root}/wal"
  query-log-enabled = false
[monitor]
  store-enabled = false
[subscriber]
  enabled = false
[continuous_queries]
  enabled = false
[http]
  bind-address = "127.0.0.1:{http_port}"
  auth-enabled = true
  log-enabled = false
  pprof-enabled = false
"""


@dataclass
class InfluxServer:
    """An `influxd` this process started (and stops, by its own PID)."""

    root: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="selfheal-influx-")))
    port: int = 0
    rpc_port: int = 0
    password: str = field(default_factory=lambda: secrets.token_hex(12))
    process: subprocess.Popen[bytes] | None = None
    databases: list[str] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> InfluxServer:
        """Start (or start again after `stop`, same ports and data) and wait until ready."""
        if BINARY is None:
            raise RuntimeError("influxd is not installed (make setup installs Debian's influxdb)")
        first = not self.port
        self.port = self.port or _free_port()
        self.rpc_port = self.rpc_port or _free_port()
        conf = self.root / "influxdb.conf"
        conf.write_text(_config(self.root, self.port, self.rpc_port))
        self.process = subprocess.Popen(
            [BINARY, "run", "-config", str(conf)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
        )
        listening = threading.Event()
        assert self.process.stderr is not None
        threading.Thread(
            target=_drain, args=(self.process.stderr, self.root / "influxd.log", listening),
            daemon=True,
        ).start()  # fmt: skip
        if not listening.wait(READY_SECONDS) or not self.ping():
            self.stop()
            log = (self.root / "influxd.log").read_text(errors="replace")[-2000:]
            raise RuntimeError(f"influxd did not answer /ping within {READY_SECONDS} s:\n{log}")
        if first:  # with no user yet, influxd accepts exactly this statement unauthenticated
            admin = f"CREATE USER \"{ADMIN}\" WITH PASSWORD '{self.password}'"
            self.query(f"{admin} WITH ALL PRIVILEGES", auth=False)
        return self

    def ping(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/ping", timeout=2) as resp:
                return bool(resp.status == 204)
        except OSError:
            return False

    def stop(self) -> None:
        """A store that is down: connections to its port are refused."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=15)
        self.process = None

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)

    def _request(self, path: str, data: bytes | None, auth: bool) -> Any:
        req = urllib.request.Request(f"{self.url}{path}", data=data)
        if auth:
            token = base64.b64encode(f"{ADMIN}:{self.password}".encode()).decode()
            req.add_header("Authorization", f"Basic {token}")
        with urllib.request.urlopen(req, timeout=30) as resp:
            body = resp.read()
        return json.loads(body) if body else None

    def query(self, q: str, *, db: str | None = None, auth: bool = True) -> Any:
        params = {"q": q, **({"db": db} if db else {})}
        out = self._request("/query", urllib.parse.urlencode(params).encode(), auth)
        errors = [r["error"] for r in out.get("results", []) if "error" in r]
        if errors:
            raise RuntimeError(f"influxd refused {q!r}: {errors}")
        return out

    def create_database(self, name: str) -> tuple[str, str]:
        """A database of its own (a pipeline's) and a user that may only read it: the
        credentials a Lambda gets, (user, password)."""
        user, password = f"{name}-reader", secrets.token_hex(12)
        self.query(f'CREATE DATABASE "{name}"')
        self.query(f"CREATE USER \"{user}\" WITH PASSWORD '{password}'")
        self.query(f'GRANT READ ON "{name}" TO "{user}"')
        self.databases.append(name)
        return user, password

    def write(self, db: str, lines: list[str]) -> None:
        """Points in line protocol, nanosecond timestamps, in batches."""
        for start in range(0, len(lines), 5000):
            body = "\n".join(lines[start : start + 5000]).encode()
            self._request(f"/write?db={urllib.parse.quote(db)}&precision=ns", body, auth=True)


def _drain(stream: IO[bytes], log: Path, listening: threading.Event) -> None:
    """influxd's log to a file; `listening` once it says its HTTP service listens."""
    with log.open("ab") as out:
        for line in iter(stream.readline, b""):
            out.write(line)
            out.flush()
            if b"Listening on HTTP" in line:
                listening.set()
    listening.set()  # it exited: stop waiting, the ping says why


_SHARED: list[InfluxServer] = []


def shared() -> InfluxServer:
    """This process's store: one a test module installs (`use`), or one made on first use
    and removed at exit (a demo's, `selfheal serve`'s, another module's tests')."""
    if not _SHARED:
        server = InfluxServer().start()
        atexit.register(server.close)
        _SHARED.append(server)
    return _SHARED[-1]


def use(server: InfluxServer | None) -> None:
    """Make `server` the one worlds write to (a test module's own), or drop it (None)."""
    if server is None:
        _SHARED.pop()
    else:
        _SHARED.append(server)
