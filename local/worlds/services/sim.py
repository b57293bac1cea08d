"""Start and break the described services on real hosts, for the service workflows: the
Equivalence Engine's web, worker, Redis and PostgreSQL on the Equivalence host
(`equivalence/`), `face_analyzer` on the inference host (`inference/`), and the Aupus site
(`aupus_site.py`: `aupus-api` on `aupus-vps`, its broker and database). Every described
service is checked on its host with the runbook's own command, through the local SSM
agent; this module only makes their faults real and watches the restarts sent.

Faults are real: `stop` kills the process (or stops the broker, or makes the database
refuse connections), `hang` stops it with SIGSTOP (the kernel still accepts connections,
nothing answers: only a timeout tells), `fail_next_restart` removes it from the process
manager (the restart command fails), `restart_does_not_help` breaks its configuration so it
comes back broken, saying why in its logs."""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from selfheal_shared.services.service_spec import load

from . import equivalence
from .aupus_site import AupusSite
from .equivalence import EquivalenceHost
from .equivalence.host import DESCRIBED
from .inference import InferenceHost
from .inference import host as inference_host

#: Described service -> its compose service on the Equivalence host.
COMPOSE_NAME = {described: compose for compose, described in DESCRIBED.items()}
#: Described service -> its systemd unit on the inference host.
UNIT_NAME = {described: unit for unit, described in inference_host.DESCRIBED.items()}
#: The described services of the Aupus site (`aupus_site`), all checked on `aupus-vps`.
AUPUS = ("aupus-ingestion", "mqtt-broker", "aupus-db")


class ServiceSim:
    """The described services on their hosts, built by `attach` (the Aupus site on first
    use: its broker, database and VPS cost seconds only the tests about it pay)."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.specs = load()
        self.host: EquivalenceHost | None = None
        self.inference: InferenceHost | None = None
        self.aupus: AupusSite | None = None
        self.pipeline: Any = None  # set by `attach`
        #: The restarts the hosts ran: {"service", "command"}.
        self.commands: list[dict[str, Any]] = []

    def use_aupus(self) -> AupusSite:
        if self.aupus is None:
            assert self.pipeline is not None, "attach(pipeline, sim) first"
            self.aupus = AupusSite(self.pipeline)
        return self.aupus

    def _on_host(self, name: str) -> tuple[Any, str]:
        """The host `name` runs on and its name there (compose service, unit, service)."""
        if name in AUPUS:
            return self.use_aupus(), name
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
        names = list(ours.get(id(host), {}))
        if self.aupus is not None and self.aupus.owns(host):
            names.append("aupus-ingestion")
        for name in names:
            command = self.specs[name].restartCommand
            if command and command in script:
                self.commands.append({"service": name, "command": command})

    # -- processes -----------------------------------------------------------------

    def start_all(self, **modes: str) -> None:
        """Every host's services up; on the Equivalence host, `equivalence_worker="stuck"`
        is a worker frozen (SIGSTOP) once started; `aupus_ingestion="stale"` starts the
        Aupus site (made if not yet) with a backend that loaded no topic."""
        for host in (self.host, self.inference):
            if host is not None:
                host.start_all()
        for name in sorted(COMPOSE_NAME):
            if modes.get(name.replace("-", "_")) == "stuck":
                self.hang(name)
        if self.aupus is not None or "aupus_ingestion" in modes:
            self.use_aupus().start(stale=modes.get("aupus_ingestion") == "stale")

    def stop(self, name: str) -> None:
        host, there = self._on_host(name)
        host.kill(there)

    def hang(self, name: str) -> None:
        host, there = self._on_host(name)
        host.freeze(there)

    def fail_next_restart(self, name: str) -> None:
        host, there = self._on_host(name)
        host.remove(there)  # gone from pm2: the restart command fails

    def restart_does_not_help(self, name: str, error: str) -> None:
        host, there = self._on_host(name)
        host.break_config(there, error)

    def fixed_by_hand(self, name: str) -> None:
        """What people do after the page: the service back in working order."""
        host, _ = self._on_host(name)
        host.fix_config()

    def lose_topics(self, equipment: list[str]) -> None:
        """Equipment registered after the backend started: not subscribed until a restart."""
        self.use_aupus().lose_topics(equipment)

    def equipment_offline(self, equipment: list[str]) -> None:
        """Equipment switched off or off the network: subscribed, sends nothing."""
        self.use_aupus().equipment_offline(equipment)

    def seed_points(self, hours_ago: float) -> None:
        """The data the ingestion had written before it went quiet."""
        self.use_aupus().seed(hours_ago)

    def push_jobs(self, n: int) -> None:
        assert self.host is not None
        self.host.push_jobs(n)

    def close(self) -> None:
        for host in (self.host, self.inference, self.aupus):
            if host is not None:
                host.close()


def attach(pipeline: Any, sim: ServiceSim) -> None:
    """The hosts registered with the pipeline's SSM agent, the restarts they run watched."""
    sim.pipeline = pipeline
    sim.host = EquivalenceHost(pipeline, equivalence.shared()).build()
    sim.inference = InferenceHost(pipeline).build()
    pipeline.hosts.watchers.append(sim.host_ran)


def _everything(sim: ServiceSim) -> None:
    sim.use_aupus()
    sim.start_all()


@contextmanager
def running(
    pipeline: Any, setup: Callable[[ServiceSim], None] | None = None
) -> Iterator[ServiceSim]:
    """Every described service up and healthy for `selfheal serve` / `replay` (or as `setup`
    starts them: the demo's scenes break one first); processes killed at exit."""
    with tempfile.TemporaryDirectory(prefix="selfheal-services-") as tmp:
        sim = ServiceSim(Path(tmp))
        try:
            attach(pipeline, sim)
            (setup or _everything)(sim)
            yield sim
        finally:
            sim.close()


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
