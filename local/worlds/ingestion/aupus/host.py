"""An Aupus ingestion host (runbook 004): a managed host (`selfheal:host=<name>`, e.g.
`aupus-vps` for the primary, `aupus-backup` for the backup) where the app's user (the
described service's `ssm.runAs`) has the backend in its directory (`ssm.directory`, with
its `.env`) and its own pm2 (`~/.pm2`) runs `aupus-api` (app.py) for real, against
a real mosquitto and the deployment's PostgreSQL database (shared by the primary and the
backup: both write the same table).

What the runbook types on the host, logged in as that user in that directory, works
through the local SSM agent: `pm2 status`,
`pm2 jlist`, `pm2 logs aupus-api --lines N --nostream`, `pm2 restart aupus-api`,
`cat .env | grep MQTT_MODE`, `curl http://localhost:$PORT/health/...`, `psql`.

Faults are real: the process killed (pm2 restarts it, as its autorestart does) or stopped
(`pm2 stop`), the wrong mode in `.env` (read at the next restart), frozen (SIGSTOP: alive,
answering nothing), the host unreachable (its SSM agent offline, while the app keeps
writing), the instance's database role fenced (INSERT revoked). Waits are on the app's
own log lines (followed with `tail -F` as they are written), never on a pause."""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import re
import select
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from selfheal_shared.core import host_shell
from selfheal_shared.services import service_spec

from .database import AupusDatabase, Row, topic

if TYPE_CHECKING:
    from local.world_api import Broker, Host, Pipeline, PostgresCluster

APP = Path(__file__).resolve().with_name("app.py")
#: The pm2 app's name, as the runbook's commands name it.
PM2_APP = "aupus-api"
#: The described service this host runs (its SSM tag key and its log group).
DESCRIBED = "aupus-ingestion"
EQUIPMENT = ("inv-01", "inv-02", "inv-03", "meter-01")
READY_SECONDS = 20.0
#: The lines the app prints once it is ready: listening, then subscribed (unless disabled).
LISTENING = "🌐 [HTTP] aupus-api escutando"
SUBSCRIBED = re.compile(r"📡 \[MQTT\] \d+ tópicos inscritos")
#: One of these per reading the app received: saved, refused (P2002, a fence, ...), or not
#: saved in development.
HANDLED = re.compile(r"💾 \[MQTT\] Buffer flush|❌ \[MQTT\] ERRO|📨 \[DEV\]")
#: Numbers the publishers' MQTT client ids (a reused id would take over a session).
_PUBLISHERS = itertools.count(1)
#: The database administration host's user whose login reaches the Aupus database.
ADMIN_USER = "postgres"
#: The runbook's primary's INSTANCE_ID (other hosts default to their name).
INSTANCE_IDS = {"aupus-vps": "production-server"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _gone(pid: int, within: float) -> bool:
    """The process has ended: its pidfd turns readable when it does (the kernel's signal)."""
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return True
    try:
        return bool(select.select([fd], [], [], within)[0])
    finally:
        os.close(fd)


def publish(broker: Broker, equipamento: str, ts: datetime | float | str, potencia: object,
            **fields: object) -> None:  # fmt: skip
    """One reading of an equipment on the broker (QoS 1, returns once the broker acked)."""
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    from local.world_api import publish_qos1

    stamp = ts.isoformat() if isinstance(ts, datetime) else ts
    body = json.dumps({"ts": stamp, "potencia": potencia, **fields})
    client_id = f"equip-{equipamento}-{os.getpid()}-{next(_PUBLISHERS)}"
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id)
    client.connect(broker.host, broker.port)
    client.loop_start()
    try:
        publish_qos1(client, topic(equipamento), body, timeout=10)
    finally:
        client.disconnect()
        client.loop_stop()


@dataclass(frozen=True)
class Mark:
    """Where the app's logs end at a moment: what it prints after is looked for there."""

    out: int
    err: int


@dataclass
class AupusHost:
    """One host of a deployment: `build()` registers it (sandbox, `.env`, pm2 ecosystem,
    its database role), `start()` runs its `aupus-api`; the rest are the runbook's views of
    it and its faults."""

    pipeline: Pipeline
    database: AupusDatabase
    broker: Broker
    name: str = "aupus-vps"
    mode: str = "production"
    instance_id: str = ""
    equipment: tuple[str, ...] = EQUIPMENT
    #: MQTT_TOPICS: a comma list of filters (default: none in `.env`, so the app loads the
    #: registered equipment's topics at start).
    topics: str = ""
    #: Tags besides `selfheal:host=<name>`.
    tags: dict[str, str] = field(default_factory=dict)
    host: Host | None = None
    port: int = 0
    #: The app's user and its directory there (the described service's `ssm`).
    user: str = ""
    directory: str = ""
    role: str = ""
    tag_key: str = ""

    # -- building ----------------------------------------------------------------------

    def build(self) -> AupusHost:
        spec = service_spec.load()[DESCRIBED]
        assert spec.ssm is not None
        self.tag_key = spec.ssm.tagKey
        self.instance_id = self.instance_id or INSTANCE_IDS.get(self.name, self.name)
        self.port = _free_port()
        self.database.migrate(self.equipment)  # the deployment's migration, before any app
        self.role = self.name.replace("-", "_")
        dotenv = {
            "MQTT_MODE": self.mode,
            "INSTANCE_ID": self.instance_id,
            "MQTT_HOST": self.broker.host,
            "MQTT_PORT": str(self.broker.port),
            # application_name: how the database tells the instance's sessions apart
            "DATABASE_URL": f"{self.database.role(self.role)}?application_name={self.instance_id}",
            "PORT": str(self.port),
            **({"MQTT_TOPICS": self.topics} if self.topics else {}),
        }
        host = self.pipeline.add_host(self.name, {self.tag_key: self.name, **self.tags})
        self.user, self.directory = spec.ssm.runAs, spec.ssm.directory
        host.add_user(self.user)
        host.closers.append(self.close)
        self.host = host
        self.root.mkdir(parents=True)
        (self.root / ".env").write_text("".join(f"{k}={v}\n" for k, v in dotenv.items()))
        app = {
            "name": PM2_APP,
            "script": str(APP),
            "interpreter": sys.executable,
            "cwd": str(self.root),
            "autorestart": True,  # pm2's default: a killed backend comes back
            "kill_timeout": 3000,
            "env": {"PYTHONUNBUFFERED": "1", "PYTHONDONTWRITEBYTECODE": "1"},
        }
        (self.root / "ecosystem.config.json").write_text(json.dumps({"apps": [app]}, indent=1))
        for stream in ("out", "error"):
            host.log_files[str(self.log_path(stream).relative_to(host.root))] = spec.logGroup
        return self

    @property
    def root(self) -> Path:
        """The backend's directory (where `.env` is): `~user/directory` on the host."""
        assert self.host is not None, "build() first"
        return self.host.home(self.user) / self.directory

    @property
    def pm2_home(self) -> Path:
        """The app user's pm2 (`~/.pm2`: no PM2_HOME is set, as on the VPS)."""
        assert self.host is not None, "build() first"
        return self.host.home(self.user) / ".pm2"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # -- running -----------------------------------------------------------------------

    def pm2(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """pm2 as the app's user runs it, logged in (its environment only)."""
        assert self.host is not None
        return subprocess.run(
            ["pm2", *args], cwd=self.root, env=self.host.environment(self.user),
            capture_output=True,
            text=True, timeout=60, check=check,
        )  # fmt: skip

    def start(self, *, mqtt: bool = True) -> None:
        """Start (or start again after `stop`), and return once the app listens and, unless
        `mqtt` is False (a broker down) or it is disabled, has subscribed its topics."""
        mark = self.mark()
        if self.jlist():
            self.pm2("start", PM2_APP)
        else:
            self.pm2("start", str(self.root / "ecosystem.config.json"))
        self.ready(mark, mqtt=mqtt)

    def restart(self, *, mqtt: bool = True) -> None:
        """`pm2 restart aupus-api` (the runbook's fix): `.env` is read again."""
        mark = self.mark()
        self.pm2("restart", PM2_APP)
        self.ready(mark, mqtt=mqtt)

    def ready(self, since: Mark, *, mqtt: bool = True) -> None:
        """The app started after `since` is listening and (unless disabled) subscribed."""
        self.wait_log(LISTENING, since)
        if mqtt and self.http("/health/mqtt")[1].get("mode") != "disabled":
            self.wait_log(SUBSCRIBED, since)

    def stop(self) -> None:
        """`pm2 stop aupus-api`: the backend is down and stays down (`stopped`)."""
        self.pm2("stop", PM2_APP)

    def kill(self) -> int:
        """The process is killed (`kill -9`); pm2 restarts it, as its autorestart does.
        Returns once the new process is ready, with its pid."""
        old = self.pid()
        mark = self.mark()
        os.kill(old, signal.SIGKILL)
        self.ready(mark)
        new = self.pid()
        if new == old:
            raise RuntimeError(f"{PM2_APP} on {self.name}: pid {old} survived SIGKILL")
        return new

    def freeze(self) -> None:
        """Alive and unresponsive (SIGSTOP): pm2 says online, nothing answers or saves."""
        os.kill(self.pid(), signal.SIGSTOP)

    def thaw(self) -> None:
        os.kill(self.pid(), signal.SIGCONT)

    def unreachable(self) -> None:
        """The host is cut off: its SSM agent never gets a command (Delivery Timed Out,
        PingStatus ConnectionLost), while the app keeps receiving and writing."""
        assert self.host is not None
        self.host.online = False

    def reachable(self) -> None:
        assert self.host is not None
        self.host.online = True

    def set_mode(self, mode: str, instance_id: str | None = None) -> None:
        """`.env` edited (MQTT_MODE, and INSTANCE_ID if given), without a restart: the
        running app keeps its mode until `pm2 restart aupus-api` (runbook "modo errado")."""
        values = {"MQTT_MODE": mode, **({"INSTANCE_ID": instance_id} if instance_id else {})}
        path = self.root / ".env"
        lines = []
        for line in path.read_text().splitlines(keepends=True):
            key = line.split("=", 1)[0].strip()
            lines.append(f"{key}={values.pop(key)}\n" if key in values else line)
        path.write_text("".join(lines) + "".join(f"{k}={v}\n" for k, v in values.items()))
        self.mode, self.instance_id = mode, instance_id or self.instance_id

    def fence(self) -> None:
        """The instance's database role loses INSERT: its writes fail, it keeps running."""
        self.database.revoke_insert(self.role)

    def unfence(self) -> None:
        self.database.grant_insert(self.role)

    # -- reading -----------------------------------------------------------------------

    def run(self, *commands: str, timeout: int = 60) -> dict[str, Any]:
        """Commands sent to this host through the pipeline's SSM Run Command (by its tag),
        typed as the runbook types them (as the app's user, in its directory):
        GetCommandInvocation's answer."""
        assert self.host is not None
        ssm = self.pipeline.client("ssm")
        command = ssm.send_command(
            DocumentName="AWS-RunShellScript",
            Targets=[{"Key": f"tag:{self.tag_key}", "Values": [self.name]}],
            Parameters={
                "commands": host_shell.as_user(self.user, self.directory, list(commands)),
                "executionTimeout": [str(timeout)],
            },
        )["Command"]  # fmt: skip
        got = ssm.get_command_invocation(
            CommandId=command["CommandId"], InstanceId=self.host.instance_id
        )
        return dict(got)

    def jlist(self) -> list[dict[str, Any]]:
        """`pm2 jlist`, parsed (a daemon pm2 had to spawn first prints a line before it)."""
        out = self.pm2("jlist").stdout
        for line in out.splitlines():
            if line.startswith("[") and not line.startswith("[PM2"):
                return [dict(a) for a in json.loads(line)]
        return []

    def status(self) -> str:
        """pm2's status of the app (online, stopped, errored, ...), or "absent"."""
        for app in self.jlist():
            if app["name"] == PM2_APP:
                return str(app["pm2_env"]["status"])
        return "absent"

    def pid(self) -> int:
        """The app's process id. Never 0: `os.kill(0, ...)` would signal our own group."""
        pid = int(self.pm2("pid", PM2_APP).stdout.strip() or 0)
        if pid <= 0:
            raise ProcessLookupError(f"{PM2_APP} is not running under pm2 on {self.name}")
        return pid

    def http(self, path: str, timeout: float = 5.0) -> tuple[int, dict[str, Any]]:
        """GET on the app's port: the status and the JSON body."""
        try:
            with urllib.request.urlopen(self.url + path, timeout=timeout) as resp:
                return int(resp.status), dict(json.loads(resp.read()))
        except urllib.error.HTTPError as exc:
            return int(exc.code), dict(json.loads(exc.read() or b"{}"))

    def written(self) -> list[Row]:
        """The rows saved under this host's INSTANCE_ID (the one `.env` says)."""
        return [r for r in self.database.rows() if r.instance_id == self.instance_id]

    def log_path(self, stream: str) -> Path:
        return self.pm2_home / "logs" / f"{PM2_APP}-{stream}.log"

    def logs(self) -> str:
        """Everything the app printed (stdout, then stderr), as pm2 keeps it."""
        return "".join(
            p.read_text(errors="replace")
            for p in (self.log_path("out"), self.log_path("error"))
            if p.exists()
        )

    def mark(self) -> Mark:
        sizes = [p.stat().st_size if p.exists() else 0
                 for p in (self.log_path("out"), self.log_path("error"))]  # fmt: skip
        return Mark(*sizes)

    def wait_log(
        self, pattern: str | re.Pattern[str], since: Mark, timeout: float = READY_SECONDS
    ) -> str:
        """The first line the app printed (stdout or stderr) after `since` that contains
        `pattern` (a string, or a regex searched), waited for as pm2 writes it."""
        for line in self._follow(since, timeout):
            if pattern.search(line) if isinstance(pattern, re.Pattern) else pattern in line:
                return line
        raise TimeoutError(
            f"{self.name}: no line {pattern!r} in {timeout:g} s; the app printed:\n"
            + self.logs()[-3000:]
        )

    def _follow(self, since: Mark, timeout: float) -> Iterator[str]:
        """The app's log lines from `since` on, as they are written (`tail -F`: inotify),
        until `timeout` passes."""
        tails = {
            subprocess.Popen(
                ["tail", "-c", f"+{offset + 1}", "-F", str(self.log_path(stream))],
                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
            ): b""
            for stream, offset in (("out", since.out), ("error", since.err))
        }  # fmt: skip
        deadline = time.monotonic() + timeout
        try:
            while (left := deadline - time.monotonic()) > 0:
                pipes = {t.stdout: t for t in tails if t.stdout is not None}
                readable, _, _ = select.select(list(pipes), [], [], left)
                for pipe in readable:
                    tail = pipes[pipe]
                    chunk = os.read(pipe.fileno(), 65536)
                    if not chunk:
                        return  # tail ended: nothing more will come
                    *lines, tails[tail] = (tails[tail] + chunk).split(b"\n")
                    for line in lines:
                        yield line.decode(errors="replace")
        finally:
            for tail in tails:
                tail.kill()
                tail.wait()
                if tail.stdout is not None:
                    tail.stdout.close()

    # -- teardown ----------------------------------------------------------------------

    def close(self) -> None:
        """Disposable: the pm2 daemon and its app killed outright (SIGKILL, the daemon
        first so it restarts nothing), read from pm2's pid files (no pm2 command: one
        would spawn a daemon if none runs)."""
        if self.host is None:
            return
        home = self.pm2_home
        pids = [home / "pm2.pid", *sorted((home / "pids").glob("*.pid"))]
        for path in pids:
            with contextlib.suppress(OSError, ValueError):
                pid = int(path.read_text().strip() or 0)
                if pid > 0 and self._ours(pid, home):
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGKILL)
                    _gone(pid, 5.0)
        self.host = None

    @staticmethod
    def _ours(pid: int, home: Path) -> bool:
        """The pid is still this host's daemon or app (a pid file left behind may name a
        pid the system gave to another process since)."""
        try:
            environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
        except OSError:
            return False
        return f"HOME={home.parent}".encode() in environ


@dataclass
class AupusDeployment:
    """One Aupus deployment: a broker, the database, and its hosts (the primary and the
    backup), closed together."""

    pipeline: Pipeline
    broker: Broker
    database: AupusDatabase
    hosts: dict[str, AupusHost] = field(default_factory=dict)
    #: The database administration host, once `db_host()` made it.
    admin: Host | None = None

    @classmethod
    def create(
        cls, pipeline: Pipeline, broker: Broker, cluster: PostgresCluster | None = None
    ) -> AupusDeployment:
        from local.world_api import shared_postgres

        return cls(pipeline, broker, AupusDatabase.create(cluster or shared_postgres()))

    def host(self, name: str, mode: str, *, start: bool = True, **kw: Any) -> AupusHost:
        """A host built (and started, ready, unless `start` is False)."""
        built = AupusHost(self.pipeline, self.database, self.broker, name, mode, **kw).build()
        self.hosts[name] = built
        if start:
            built.start()
        return built

    def db_host(self, name: str = "aupus-db") -> Host:
        """The deployment's database administration host (`selfheal:host=<name>`): where
        `psql` runs as the database's owner (PG* variables), the only place a fence is
        applied from (REVOKE/GRANT INSERT on an instance's role)."""
        if self.admin is None:
            spec = service_spec.load()[DESCRIBED]
            assert spec.ssm is not None
            cluster = self.database.cluster
            self.admin = self.pipeline.add_host(name, {spec.ssm.tagKey: name})
            # The database user's login reaches the cluster (its profile: where it listens
            # here, where a Debian host's socket would be found by default).
            self.admin.add_user(
                ADMIN_USER,
                {"PGHOST": "127.0.0.1", "PGPORT": str(cluster.port), "PGUSER": "postgres"},
            )
        return self.admin

    def publish(self, equipamento: str, ts: datetime | float | str, potencia: object,
                **fields: object) -> None:  # fmt: skip
        publish(self.broker, equipamento, ts, potencia, **fields)

    def rows(self) -> list[Row]:
        return self.database.rows()

    def next_row(self, timeout: float = 15.0) -> Row:
        """The first reading saved after this call (by whichever instance writes), waited
        for: a switch's effect on the data is the row, not the command's exit."""
        import psycopg

        with psycopg.connect(self.database.admin_url, autocommit=True) as db:
            start = db.execute("SELECT now()").fetchone()
            deadline = time.monotonic() + timeout
            while True:
                found = db.execute(
                    "SELECT equipamento_id, ts, payload, instance_id, created_at FROM "
                    "equipamentos_dados WHERE created_at > %s ORDER BY id LIMIT 1",
                    (start[0] if start else None,),
                ).fetchone()
                if found is not None:
                    return Row(*found)
                if time.monotonic() > deadline:
                    raise TimeoutError(f"no reading saved within {timeout:g} s")
                # real-time: a row in PostgreSQL notifies nobody; a bounded look every 0.05 s.
                time.sleep(0.05)

    def close(self) -> None:
        for host in self.hosts.values():
            host.close()

    def register(self, group: str, instances: dict[str, AupusHost]) -> None:
        """The group as production registers it (Parameter Store
        `/selfheal/ingestion/<group>/instances`): each instance's host tag, database role,
        INSTANCE_ID and priority (the order given), and the database's host."""
        from selfheal_shared.ingestion import ingestion_instances

        registry = {
            "database": {
                "host": self.db_host().name,
                "runAs": ADMIN_USER,
                "name": self.database.name,
            },
            "instances": [
                {
                    "name": name,
                    "host": h.name,
                    "role": h.role,
                    "instanceId": h.instance_id,
                    "priority": n,
                    "runAs": h.user,
                    "directory": h.directory,
                }
                for n, (name, h) in enumerate(instances.items())
            ],
        }
        self.pipeline.client("ssm").put_parameter(
            Name=ingestion_instances.parameter_name(group), Type="String",
            Value=json.dumps(registry), Overwrite=True,
        )  # fmt: skip

    def feed(self, equipamento: str = EQUIPMENT[0], every: float = 0.05) -> Feed:
        """Readings of one equipment published in real time until the feed is closed."""
        return Feed(self.broker, equipamento, every).start()


@dataclass
class Feed:
    """An equipment publishing a reading every `every` seconds (a new `ts` each: the unique
    key two instances in production collide on), on its own MQTT connection."""

    broker: Broker
    equipamento: str
    every: float = 0.05
    sent: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> Feed:
        import paho.mqtt.client as mqtt
        from paho.mqtt.enums import CallbackAPIVersion

        from local.world_api import publish_qos1

        client_id = f"feed-{self.equipamento}-{os.getpid()}-{next(_PUBLISHERS)}"
        client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id)
        client.connect(self.broker.host, self.broker.port)
        client.loop_start()

        def loop() -> None:
            try:
                while not self._stop.wait(self.every):
                    stamp = datetime.now(UTC).isoformat(timespec="microseconds")
                    body = json.dumps({"ts": stamp, "potencia": 10.0 + self.sent % 7})
                    publish_qos1(client, topic(self.equipamento), body, timeout=10)
                    self.sent += 1
            finally:
                client.disconnect()
                client.loop_stop()

        self._thread = threading.Thread(target=loop, name=client_id, daemon=True)
        self._thread.start()
        return self

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(15)

    def __enter__(self) -> Feed:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
