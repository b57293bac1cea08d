"""One real PostgreSQL cluster (Debian's server binaries) for a test session or a demo, with
a database per host (or per deployment, when hosts share one: Aupus's primary and backup).
A runtime stand-in like the broker, offered to the worlds by `local/world_api.py`. The
server refuses to run as root: it runs as `postgres` when started by root. It listens on
127.0.0.1 only, on a port picked free, with fsync off (a scratch cluster: speed over
durability)."""

from __future__ import annotations

import atexit
import os
import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

#: Debian's server binaries (the newest installed major version).
BIN = max(Path("/usr/lib/postgresql").glob("*/bin"), key=lambda p: int(p.parent.name), default=None)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _as_postgres() -> list[str]:
    return ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []


@dataclass
class PostgresCluster:
    root: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="selfheal-pg-")))
    port: int = 0
    databases: list[str] = field(default_factory=list)

    @property
    def data(self) -> Path:
        return self.root / "data"

    def _run(self, *args: str) -> subprocess.CompletedProcess[str]:
        if BIN is None:
            raise RuntimeError("PostgreSQL is not installed (make setup installs it)")
        return subprocess.run(
            [*_as_postgres(), str(BIN / args[0]), *args[1:]],
            check=True,
            capture_output=True,
            text=True,
            timeout=60,
        )

    def init(self) -> PostgresCluster:
        if os.geteuid() == 0:
            shutil.chown(self.root, "postgres")
        self._run("initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres",
                  "--no-sync", "-E", "UTF8")  # fmt: skip
        return self.start()

    def start(self) -> PostgresCluster:
        """Start (or start again, after `stop`) on the same port when it has one."""
        self.port = self.port or _free_port()
        options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run("pg_ctl", "-D", str(self.data), "-o", options, "-l",
                  str(self.root / "server.log"), "-w", "-t", "30", "start")  # fmt: skip
        return self

    def stop(self) -> None:
        """A database that is down: `pg_isready` answers "no response"."""
        self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")

    def running(self) -> bool:
        return (self.data / "postmaster.pid").exists()

    def create_database(self, name: str) -> str:
        """A database of its own (a host's, a test's) and its URL."""
        self._run("createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", name)
        self.databases.append(name)
        return self.url(name)

    def url(self, name: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{name}"

    def close(self) -> None:
        if self.running():
            self.stop()
        shutil.rmtree(self.root, ignore_errors=True)


_SHARED: list[PostgresCluster] = []


def shared() -> PostgresCluster:
    """This process's cluster (a test session's, a demo's), made on first use, removed at
    exit: one `initdb` per process, a database per host."""
    if not _SHARED:
        cluster = PostgresCluster().init()
        atexit.register(cluster.close)
        _SHARED.append(cluster)
    return _SHARED[0]
