"""Start, break and restart the simulated services as real processes on 127.0.0.1, and
answer SSM Run Command for the local runtime (the "SSM agent" on their hosts).

Faults are real: `stop` kills the process (connection refused), `hang` stops it with
SIGSTOP (the kernel still accepts connections, nothing answers: only a timeout tells),
`fail_next_restart` makes the agent report the command Failed and start nothing,
`restart_does_not_help` brings the process back in a broken mode (health 503 with an error
in its logs), `stuck` starts a worker that consumes nothing, `stale` an ingestion process
whose subscriptions were lost."""

from __future__ import annotations

import json
import os
import select
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from selfheal_shared.services.service_spec import ServiceSpec, env_key, load

from . import equivalence
from .equivalence import EquivalenceHost
from .equivalence.host import DESCRIBED
from .inference import InferenceHost
from .inference import host as inference_host

#: Described service -> its compose service on the Equivalence host.
COMPOSE_NAME = {described: compose for compose, described in DESCRIBED.items()}
#: Described service -> its systemd unit on the inference host.
UNIT_NAME = {described: unit for unit, described in inference_host.DESCRIBED.items()}

ROOT = Path(__file__).resolve().parents[3]
#: One service process, started as a script (stdlib only: no package of the runtime is imported).
PROC = Path(__file__).resolve().with_name("proc.py")
READY_SECONDS = 15.0
#: The equipment whose topics the simulated ingestion subscribes to.
TOPICS = ["aupus/inv-01", "aupus/inv-02", "aupus/inv-03", "aupus/meter-01"]


def reserve_port() -> socket.socket:
    """A port on 127.0.0.1 held for a service for the simulator's life: a bound socket that
    never listens, with SO_REUSEPORT so the service process (same option) binds beside it,
    also after a restart. A port that was only picked and released could be taken by any
    other process in between (a parallel test worker did: "Address already in use")."""
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    s.bind(("127.0.0.1", 0))
    return s


@dataclass
class Service:
    spec: ServiceSpec
    port: int
    mode: str = "ok"
    proc: subprocess.Popen[bytes] | None = None
    #: Faults for the next restarts: "fail" (the command fails) or a mode to come back in.
    next_restarts: list[str] = field(default_factory=list)
    restarts: int = 0
    error: str = ""
    lost_topics: list[str] = field(default_factory=list)
    offline: list[str] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


class ServiceSim:
    """The described services: those checked on their host (`check` in the description)
    run for real there, the hosts built by `attach`: the Equivalence Engine's web, worker,
    Redis and PostgreSQL on the Equivalence host (`equivalence/`), `face_analyzer` on the
    inference host (`inference/`); the others are simulated processes answered by this
    class's SSM stand-in."""

    def __init__(self, workdir: Path, names: list[str] | None = None) -> None:
        specs = load()
        self.workdir = workdir
        names = names or sorted(specs)
        self.hosted = {n for n in names if specs[n].check is not None}
        self._reserved = {n: reserve_port() for n in names if n not in self.hosted}
        self.services = {
            n: Service(specs[n], int(self._reserved[n].getsockname()[1]))
            for n in names
            if n not in self.hosted
        }
        self.specs = {n: specs[n] for n in names}
        #: The Equivalence and inference hosts, for the hosted services (set by `attach`).
        self.host: EquivalenceHost | None = None
        self.inference: InferenceHost | None = None
        self.log_sink: Any = None  # (service, [lines]) -> None, set by `attach`
        self.commands: list[dict[str, Any]] = []
        self.data_file = workdir / "aupus-points.jsonl"

    # -- environment ---------------------------------------------------------------

    def env(self) -> dict[str, str]:
        return {env_key(n): s.url for n, s in self.services.items()}

    def _on_host(self, name: str) -> tuple[EquivalenceHost | InferenceHost, str] | None:
        """The host `name` runs on and its name there (compose service, unit), if hosted."""
        if name not in self.hosted:
            return None
        if name in UNIT_NAME:
            assert self.inference is not None, "attach(pipeline, sim) builds the host first"
            return self.inference, UNIT_NAME[name]
        assert self.host is not None, "attach(pipeline, sim) builds the host first"
        return self.host, COMPOSE_NAME[name]

    def host_ran(self, host: Any, script: str, inv: Any) -> None:
        """The agent's watcher: a restart run on one of these hosts is one of `commands`."""
        ours = {
            id(h.host): names
            for h, names in ((self.host, COMPOSE_NAME), (self.inference, UNIT_NAME))
            if h is not None
        }
        for name in ours.get(id(host), {}):
            command = self.specs[name].restartCommand if name in self.specs else ""
            if command and command in script.splitlines():
                self.commands.append({"service": name, "command": command})

    def _opts(self, svc: Service) -> dict[str, Any]:
        spec = svc.spec
        opts: dict[str, Any] = {
            "name": spec.name,
            "port": svc.port,
            "mode": svc.mode,
            "kind": "queue" if spec.name == "redis" else spec.kind,
            "error": svc.error or f"{spec.name} failed to start",
        }
        needs = [d for d in spec.dependencies if d in self.services]
        opts["needs"] = {d: self.services[d].url + "/health" for d in needs}
        if spec.verify.queueService:
            opts["queueUrl"] = self.services[spec.verify.queueService].url
        if spec.kind == "ingestion":
            opts |= {
                "topics": TOPICS,
                "lostTopics": svc.lost_topics,
                "offlineEquipment": svc.offline,
                "dataFile": str(self.data_file),
            }
        return opts

    # -- processes -----------------------------------------------------------------

    def start(self, name: str, mode: str | None = None) -> None:
        svc = self.services[name]
        if mode is not None:
            svc.mode = mode
        proc = subprocess.Popen(
            [sys.executable, str(PROC), json.dumps(self._opts(svc))],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            bufsize=0,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
        svc.proc = proc
        lines = self._until_ready(proc, name)
        self._log(name, lines)

    def _until_ready(self, proc: subprocess.Popen[bytes], name: str) -> list[str]:
        """The process's startup lines, up to its READY (a real signal, bounded)."""
        assert proc.stdout is not None
        fd = proc.stdout.fileno()
        text = b""
        deadline = time.monotonic() + READY_SECONDS
        while b"READY\n" not in text:
            left = deadline - time.monotonic()
            ready, _, _ = select.select([fd], [], [], max(left, 0))
            if not ready:
                raise RuntimeError(f"{name} did not start within {READY_SECONDS:g} s: {text!r}")
            chunk = os.read(fd, 4096)
            if not chunk:
                raise RuntimeError(f"{name} exited while starting: {text!r}")
            text += chunk
        return [line for line in text.decode().split("READY\n")[0].splitlines() if line]

    def start_all(self, **modes: str) -> None:
        """Dependencies first (stores, then the rest), each in `modes.get(name, "ok")`; on
        the Equivalence host, "stuck" is a worker frozen (SIGSTOP) once started."""
        for host in (self.host, self.inference):
            if host is not None:
                host.start_all()
        for name in sorted(self.hosted):
            if modes.get(name.replace("-", "_")) == "stuck":
                self.hang(name)
        order = sorted(self.services, key=lambda n: self.services[n].spec.kind != "store")
        for name in order:
            self.start(name, modes.get(name.replace("-", "_"), "ok"))

    def _kill(self, svc: Service) -> None:
        if svc.proc is not None and svc.proc.poll() is None:
            svc.proc.send_signal(signal.SIGCONT)
            svc.proc.kill()
            svc.proc.wait()
            assert svc.proc.stdout is not None
            svc.proc.stdout.close()
        svc.proc = None

    def stop(self, name: str, line: str = "") -> None:
        hosted = self._on_host(name)
        if hosted is not None:
            hosted[0].kill(hosted[1])
            return
        svc = self.services[name]
        self._kill(svc)
        self._log(name, [line or f"[ERROR] {name}: process exited (code 137)"])

    def hang(self, name: str) -> None:
        hosted = self._on_host(name)
        if hosted is not None:
            hosted[0].freeze(hosted[1])
            return
        svc = self.services[name]
        assert svc.proc is not None
        svc.proc.send_signal(signal.SIGSTOP)
        self._log(name, [f"[WARN] {name}: event loop blocked; requests not answered"])

    def fail_next_restart(self, name: str) -> None:
        hosted = self._on_host(name)
        if hosted is not None:
            hosted[0].remove(hosted[1])  # gone from pm2: `docker compose restart` fails
            return
        self.services[name].next_restarts.append("fail")

    def restart_does_not_help(self, name: str, error: str, times: int = 10) -> None:
        hosted = self._on_host(name)
        if hosted is not None:
            if times:
                hosted[0].break_config(hosted[1], error)
            return
        svc = self.services[name]
        svc.error = error
        svc.next_restarts.extend(["broken"] * times)

    def fixed_by_hand(self, name: str) -> None:
        """What people do after the page: the service back in working order."""
        hosted = self._on_host(name)
        if hosted is not None:
            hosted[0].fix_config()
            return
        svc = self.services[name]
        svc.next_restarts.clear()
        self._kill(svc)
        self.start(name, "ok")

    def lose_topics(self, topics: list[str]) -> None:
        self.services["aupus-ingestion"].lost_topics = topics

    def equipment_offline(self, topics: list[str]) -> None:
        """Equipment switched off or off the network: subscribed, sends nothing."""
        self.services["aupus-ingestion"].offline = topics

    def seed_points(self, hours_ago: float) -> None:
        """The data the ingestion had written before it went quiet."""
        at = time.time() - hours_ago * 3600
        with self.data_file.open("a") as out:
            for topic in TOPICS:
                out.write(json.dumps({"topic": topic, "at": at}) + "\n")

    def push_jobs(self, n: int) -> None:
        if "redis" in self.hosted:
            assert self.host is not None
            self.host.push_jobs(n)
            return
        import urllib.request

        with urllib.request.urlopen(f"{self.services['redis'].url}/push?n={n}", timeout=5):
            pass

    def close(self) -> None:
        for host in (self.host, self.inference):
            if host is not None:
                host.close()
        for svc in self.services.values():
            self._kill(svc)
        for held in self._reserved.values():
            held.close()

    # -- the SSM agent -----------------------------------------------------------------

    def run_command(
        self, targets: list[dict[str, Any]], commands: list[str]
    ) -> dict[str, Any] | None:
        """Answer SendCommand as the SSM agent on the targeted host would: run the restart
        command of the service it names. Returns the invocation (Status, Output)."""
        tags = {(t.get("Key", ""), v) for t in targets for v in t.get("Values", [])}
        for svc in self.services.values():
            ssm = svc.spec.ssm
            if (
                ssm
                and (f"tag:{ssm.tagKey}", ssm.tagValue) in tags
                and svc.spec.restartCommand in commands
            ):
                return self._restart(svc, ssm.tagValue)
        return None  # not one of these hosts: another agent's

    def _restart(self, svc: Service, host: str) -> dict[str, Any]:
        name = svc.spec.name
        instance = f"mi-{host}"
        self.commands.append({"service": name, "command": svc.spec.restartCommand})
        svc.restarts += 1
        fault = svc.next_restarts.pop(0) if svc.next_restarts else "ok"
        if fault == "fail":
            self._log(name, [f"[ERROR] {svc.spec.restartCommand}: failed (exit 1)"])
            return {
                "Status": "Failed",
                "InstanceId": instance,
                "Output": f"{svc.spec.restartCommand}: exit status 1",
            }
        self._kill(svc)
        svc.lost_topics = []  # a restart loads every topic again (runbook 004)
        self.start(name, "broken" if fault == "broken" else "ok")
        return {"Status": "Success", "InstanceId": instance, "Output": f"{name} restarted"}

    def _log(self, name: str, lines: list[str]) -> None:
        if self.log_sink is not None and lines:
            self.log_sink(self.services[name].spec, lines)


def attach(pipeline: Any, sim: ServiceSim) -> None:
    """The pipeline answers SendCommand through the simulator, and the processes' log lines
    land in their CloudWatch Logs groups at the pipeline's time."""
    logs = pipeline.client("logs")
    for svc in sim.services.values():
        logs.create_log_group(logGroupName=svc.spec.logGroup)
        logs.create_log_stream(logGroupName=svc.spec.logGroup, logStreamName="host")

    def sink(spec: ServiceSpec, lines: list[str]) -> None:
        at = int(pipeline.clock.now().timestamp() * 1000)
        logs.put_log_events(
            logGroupName=spec.logGroup,
            logStreamName="host",
            logEvents=[{"timestamp": at, "message": line} for line in lines],
        )

    sim.log_sink = sink
    pipeline.extensions.ssm_agents.append(sim.run_command)
    if sim.hosted & set(COMPOSE_NAME):
        sim.host = EquivalenceHost(pipeline, equivalence.shared()).build()
    if sim.hosted & set(UNIT_NAME):
        sim.inference = InferenceHost(pipeline).build()
    if sim.hosted:
        pipeline.hosts.watchers.append(sim.host_ran)


@contextmanager
def running(
    pipeline: Any, setup: Callable[[ServiceSim], None] | None = None
) -> Iterator[ServiceSim]:
    """Every described service up and healthy for `selfheal serve` / `replay` (or as `setup`
    starts them: the demo's scenes break one first): endpoints in the environment (restored
    after), log groups, the SSM agent; processes killed at exit."""
    with tempfile.TemporaryDirectory(prefix="selfheal-services-") as tmp:
        sim = ServiceSim(Path(tmp))
        saved = {k: os.environ.get(k) for k in sim.env()}
        os.environ.update(sim.env())
        try:
            attach(pipeline, sim)
            (setup or ServiceSim.start_all)(sim)
            yield sim
        finally:
            sim.close()
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value


def needed_for(event: dict[str, Any]) -> bool:
    """Whether an event is about a described service (its alarm, or the ingestion scope of
    a partial-data alarm), so a replay starts the service processes only when they matter."""
    specs = load().values()
    detail = event.get("detail") if isinstance(event.get("detail"), dict) else {}
    assert isinstance(detail, dict)
    if any(detail.get("alarmName") in s.alarms for s in specs):
        return True
    text = json.dumps(detail.get("configuration", {}))
    return any(f'"IngestionScope": "{scope}"' in text for s in specs for scope in s.ingestionScopes)
