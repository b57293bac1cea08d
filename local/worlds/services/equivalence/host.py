"""The Equivalence Engine's host: a managed host (`selfheal:host=equivalence`) whose app
user's pm2 runs Redis, the web API and the RQ worker for real, with the compose project's
`.env`, `compose.json`
(what `docker compose` maps to pm2) and the runbook's tools on its PATH. Faults are real:
a process killed (`kill -9`), frozen (`SIGSTOP`), a database stopped, a configuration the
web process cannot start with."""

from __future__ import annotations

import itertools
import json
import os
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from ..pm2_apps import Pm2Apps, free_port, wait_port

if TYPE_CHECKING:
    from local.world_api import Host, Pipeline, PostgresCluster

ROOT = Path(__file__).resolve().parents[4]
HERE = Path(__file__).resolve().parent
TAG = ("selfheal:host", "equivalence")
#: Compose service -> the described service (services/*.json) it is.
DESCRIBED = {
    "web": "equivalence-api",
    "worker": "equivalence-worker",
    "redis": "redis",
    "postgres": "postgres",
}
#: A database per host in this process's cluster.
_SERIAL = itertools.count(1)


@dataclass
class EquivalenceHost(Pm2Apps):
    pipeline: Pipeline
    cluster: PostgresCluster
    host: Host | None = None
    ports: dict[str, int] = field(default_factory=dict)
    #: The compose project's `.env` as built.
    dotenv: dict[str, str] = field(default_factory=dict)

    # -- building ----------------------------------------------------------------------

    def build(self) -> EquivalenceHost:
        self.ports = {"WEB_PORT": free_port(), "REDIS_PORT": free_port()}
        name = f"equivalence_{os.getpid()}_{next(_SERIAL)}"
        database = self.cluster.create_database(name)
        redis_url = f"redis://127.0.0.1:{self.ports['REDIS_PORT']}/0"
        dotenv = {
            "WEB_PORT": str(self.ports["WEB_PORT"]),
            "REDIS_PORT": str(self.ports["REDIS_PORT"]),
            "REDIS_URL": redis_url,
            "POSTGRES_PORT": str(self.cluster.port),  # published on the host's loopback
            "RQ_REDIS_URL": redis_url,  # what `rq worker` reads
            "DATABASE_URL": database,
        }
        self.dotenv = dotenv
        host = self.pipeline.add_host("equivalence", {TAG[0]: TAG[1]})
        project = self.settle(host, DESCRIBED["web"])
        host.closers.append(self.close)
        (project / ".env").write_text("".join(f"{k}={v}\n" for k, v in dotenv.items()))
        compose = {
            "project": "equivalence",
            "services": {
                "web": {"pm2": "web", "port": "WEB_PORT", "command": "python web.py"},
                "worker": {"pm2": "worker", "command": "rq worker default"},
                "redis": {
                    "pm2": "redis",
                    "port": "REDIS_PORT",
                    "image": "redis:7",
                    "command": "docker-entrypoint.sh redis-server",
                },
                "postgres": {
                    "pidFile": str(self.cluster.data / "postmaster.pid"),
                    "image": "postgres:15",
                    "command": "docker-entrypoint.sh postgres",
                },
            },
        }
        (project / "compose.json").write_text(json.dumps(compose, indent=1))
        host.add_command(
            "docker", f'#!/bin/sh\nexec "{sys.executable}" "{HERE / "docker_compose.py"}" "$@"\n'
        )
        rq = Path(sys.executable).with_name("rq")
        host.add_command("rq", f'#!/bin/sh\nexec "{rq}" "$@"\n')
        apps: list[dict[str, object]] = [
            {
                "name": "redis",
                "script": shutil.which("redis-server") or "redis-server",
                "args": f"--port {self.ports['REDIS_PORT']} --bind 127.0.0.1 --save '' "
                "--appendonly no",
                "interpreter": "none",
            },
            {"name": "web", "script": str(HERE / "web.py"), "interpreter": sys.executable},
            {
                "name": "worker",
                "script": str(rq),
                "args": "worker --logging_level WARNING default",
                "interpreter": "none",
            },
        ]
        for app in apps:
            app.update(
                autorestart=False,
                cwd=str(project),
                kill_timeout=3000,
                env={**dotenv, "PYTHONPATH": str(ROOT)},
            )
        (project / "ecosystem.json").write_text(json.dumps({"apps": apps}, indent=1))
        logs = host.home(self.user) / ".pm2" / "logs"
        for compose_name, described in DESCRIBED.items():
            group = f"/selfheal/services/{described}"
            if compose_name == "postgres":
                host.log_files[str(self.cluster.root / "server.log")] = group
            else:
                host.log_files[str(logs / f"{compose_name}-out.log")] = group
                host.log_files[str(logs / f"{compose_name}-error.log")] = group
        return self

    # -- running -----------------------------------------------------------------------

    def start_all(self) -> None:
        assert self.host is not None
        if not self.cluster.running():
            self.cluster.start()
        self.pm2("start", str(self.app_dir / "ecosystem.json"))
        wait_port(self.ports["REDIS_PORT"], "redis")
        wait_port(self.ports["WEB_PORT"], "web")

    def kill(self, app: str) -> None:
        """The process dies (`kill -9`): `docker compose ps` says Exited."""
        if app == "postgres":
            self.cluster.stop()
            return
        self.kill_app(app)

    def break_config(self, app: str, reason: str) -> None:
        """A configuration the app runs badly with, read at its next (re)start: the web up
        with `/health` 503 saying `reason`; the worker pointed at a Redis that is not there
        (it exits, saying so)."""
        assert self.host is not None
        line = {
            "web": f"EQUIVALENCE_BROKEN={reason}",
            "worker": "RQ_REDIS_URL=redis://127.0.0.1:1/0",
        }
        with (self.app_dir / ".env").open("a") as env:
            env.write(line[app] + "\n")

    def fix_config(self) -> None:
        """What people do after the page: the configuration fixed, the web restarted."""
        assert self.host is not None
        env = self.app_dir / ".env"
        lines = env.read_text().splitlines(keepends=True)
        env.write_text("".join(x for x in lines if not x.startswith("EQUIVALENCE_BROKEN=")))
        self.pm2("restart", "web", "--update-env", EQUIVALENCE_BROKEN="")
        wait_port(self.ports["WEB_PORT"], "web")

    def push_jobs(self, n: int) -> None:
        from redis import Redis
        from rq import Queue

        assert self.host is not None
        queue = Queue("default", connection=Redis.from_url(self.dotenv["REDIS_URL"]))
        for i in range(n):
            queue.enqueue("local.worlds.services.equivalence.jobs.evaluate", i)

    def queued(self) -> int:
        from redis import Redis
        from rq import Queue

        assert self.host is not None
        return len(Queue("default", connection=Redis.from_url(self.dotenv["REDIS_URL"])))

    def evaluations(self) -> int:
        import psycopg

        assert self.host is not None
        with psycopg.connect(self.dotenv["DATABASE_URL"], connect_timeout=5) as db:
            found = db.execute("SELECT to_regclass('evaluations')").fetchone()
            if not found or found[0] is None:
                return 0
            row = db.execute("SELECT count(*) FROM evaluations").fetchone()
            return int(row[0]) if row else 0

    def close(self) -> None:
        if self.host is None:
            return
        self.kill_everything()
        self.host = None
        if not self.cluster.running():
            self.cluster.start()  # the next host of the session needs its database
