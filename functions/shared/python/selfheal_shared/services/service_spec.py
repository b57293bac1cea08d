"""Service descriptions (issue 12 item 1): one JSON file per service in `services/`, found by
convention like the rules. Each says how to check the service's status, where its logs are,
which services it needs first, how to restart it and how to tell that the restart worked.

The files ship in the layer, so the remediators read the same descriptions the tests do.
Endpoints are not in the files: the deployment gives each service's base URL in
`SELFHEAL_SERVICE_<NAME>_URL` (no addresses in the repository)."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from ..core import config as config
from ..core import host_shell
from ..core.errors import InputInvalid

#: The described services: `<name>.json` beside this module, in the services package.
DIR = Path(__file__).parent
NAME = r"^[a-z][a-z0-9-]{1,40}$"


class SpecError(ValueError):
    """A service file that does not validate: names the file and the field."""


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SsmTarget(Strict):
    """SSM Run Command on a managed (or hybrid-activated) host, picked by tag; its commands
    run as the runbook types them (`host_shell`): in `runAs`'s login shell, from
    `directory` under that user's home (where the app's `.env` is)."""

    tagKey: str = Field(min_length=1)
    tagValue: str = Field(min_length=1)
    #: The user the runbook logs in as (`ssh user@vps-ip`): whose pm2, whose profile.
    runAs: str = Field(pattern=host_shell.USER_PATTERN)
    #: The app's directory under that user's home ("" for the home itself).
    directory: str = Field(pattern=host_shell.DIRECTORY_PATTERN)

    def shell(self, lines: list[str]) -> list[str]:
        return host_shell.as_user(self.runAs, self.directory, lines)


class EcsTarget(Strict):
    cluster: str = Field(min_length=1)
    service: str = Field(min_length=1)


class Verify(Strict):
    """What says the service works: its health endpoint answers 200; a worker's queue
    drains; an ingestion's data is fresh (runbook 004 "hoursSinceLastData < 0.1")."""

    check: Literal["health", "backlog_drains", "fresh_data"]
    #: `backlog_drains`: the queue service whose depth must reach 0.
    queueService: str | None = None
    #: How long one probe waits for an answer: a hung process accepts and never answers.
    timeoutSeconds: float = Field(default=5.0, gt=0, le=30)

    @model_validator(mode="after")
    def _queue_named(self) -> Verify:
        if self.check == "backlog_drains" and not self.queueService:
            raise ValueError("backlog_drains needs queueService")
        return self


#: What a host check's output is read as (`host_checks.READERS`).
Reads = Literal[
    "http_health",
    "redis_ping",
    "pg_isready",
    "rq_backlog",
    "systemd_health",
    "compose_health",
    "aupus_health",
    "mqtt_connect",
    "psql_select",
    "aupus_equipment",
]
#: A host command: the description's own text only (no input is ever pasted in); one line,
#: no backquote. `$VAR` reads the host's own configuration (its environment, its `.env`).
COMMAND = r"^[^`\n\r]{1,2000}$"


class HostCheck(Strict):
    """How the runbook checks the service by hand, run on its host through SSM Run Command
    (runbook 002: `curl -sS http://localhost:8000/health`, `redis-cli ping`, `rq info`),
    and how its real output is read."""

    command: str = Field(pattern=COMMAND)
    reads: Reads
    #: After a restart: the same reading once the service had the time the runbook gives it
    #: (004 "Aguardar 30 segundos"), waited for on the host and cut short by the signal
    #: (data arriving, or the process gone); `command` when not given.
    verifyCommand: str | None = Field(default=None, pattern=COMMAND)


class ServiceSpec(Strict):
    name: str = Field(pattern=NAME)
    kind: Literal["http", "worker", "ingestion", "store"]
    description: str = Field(min_length=1)
    #: Runbook severity when it is down (002: API SEV-1, worker/Redis SEV-2).
    severity: Literal["SEV-1", "SEV-2", "SEV-3", "SEV-4"]
    #: The runbook section this service's procedure comes from.
    runbook: str = Field(min_length=1)
    #: Whose escalation policy pages for it (`events/escalation/<system>.json`): the
    #: runbook's ladder (003's for the inference service, 004's for Aupus, ...).
    escalation: str = Field(min_length=1)
    ssm: SsmTarget | None = None
    ecs: EcsTarget | None = None
    statusCommand: str = Field(min_length=1)
    #: Checked on its host (through `ssm`) with the runbook's own command; without it, the
    #: service's `healthPath` is read at its configured URL.
    check: HostCheck | None = None
    #: An ingestion service's equipment report (runbook 004 "Dados Parciais"), run on its
    #: host like `check`.
    report: HostCheck | None = None
    #: False for what selfheal must not restart (a broker run by someone else): when it is
    #: down, the workflow escalates to its owner with `owner` and restarts nothing.
    restartable: bool = True
    owner: str = ""
    restartCommand: str = ""
    healthPath: str = Field(default="/health", pattern=r"^/")
    logGroup: str = Field(min_length=1)
    logLines: int = Field(default=20, ge=1, le=200)
    #: Checked (and restarted first when down) before the service itself, in this order.
    dependencies: list[str] = Field(default_factory=list)
    verify: Verify
    #: Circuit breaker: restarts allowed in any sliding hour; then escalate, never restart.
    restartsPerHour: int = Field(default=3, ge=1, le=20)
    #: CloudWatch alarms that mean this service is in trouble (alarm name -> this service).
    alarms: list[str] = Field(default_factory=list)
    #: Ingestion scopes (the `IngestionScope` of a partial-data alarm) whose subscriptions
    #: this ingestion service loads: partial data there is reloaded by restarting it.
    ingestionScopes: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _one_target(self) -> ServiceSpec:
        if (self.check or self.report) is not None and self.ssm is None:
            raise ValueError("a host check needs ssm: the host it runs on")
        if self.check is None and self.verify.check != "health":
            raise ValueError(f"verify.check {self.verify.check} is read on the host: add check")
        if not self.restartable:
            if self.ecs or self.restartCommand or not self.owner:
                raise ValueError("not restartable: no ecs/restartCommand, an owner")
            return self
        if (self.ssm is None) == (self.ecs is None):
            raise ValueError("exactly one of ssm / ecs says where the service runs")
        if not self.restartCommand:
            raise ValueError("restartable: restartCommand is required")
        return self

    def base_url(self) -> str:
        key = env_key(self.name)
        url = config.env(key, "")
        if not url:
            raise InputInvalid(f"service {self.name}: no endpoint configured ({key})")
        return url.rstrip("/")


def env_key(name: str) -> str:
    return f"SELFHEAL_SERVICE_{name.upper().replace('-', '_')}_URL"


def parse_file(path: Path) -> ServiceSpec:
    try:
        raw = json.loads(path.read_text())
    except ValueError as exc:
        raise SpecError(f"{path.name}: not JSON: {exc}") from exc
    if not isinstance(raw, dict):
        raise SpecError(f"{path.name}: must be an object")
    raw.setdefault("name", path.stem)
    if raw["name"] != path.stem:
        raise SpecError(f"{path.name}: name: {raw['name']!r} is not the file's name")
    try:
        return ServiceSpec.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"]) or "(file)"
        raise SpecError(f"{path.name}: {field}: {first['msg']}") from exc


@cache
def load(directory: Path = DIR) -> dict[str, ServiceSpec]:
    """Every service description; dependencies must name described services, no cycles."""
    specs = {p.stem: parse_file(p) for p in sorted(directory.glob("*.json"))}
    for spec in specs.values():
        for n, dep in enumerate(spec.dependencies):
            if dep not in specs:
                raise SpecError(f"{spec.name}.json: dependencies.{n}: no service {dep!r}")
            if spec.name in specs[dep].dependencies or dep == spec.name:
                raise SpecError(f"{spec.name}.json: dependencies.{n}: {dep!r} is a cycle")
        if spec.verify.queueService and spec.verify.queueService not in specs:
            raise SpecError(f"{spec.name}.json: verify.queueService: no such service")
    owners: dict[str, str] = {}
    for spec in specs.values():
        for alarm in spec.alarms:
            if alarm in owners:
                raise SpecError(f"{spec.name}.json: alarms: {alarm!r} is {owners[alarm]}'s")
            owners[alarm] = spec.name
    return specs


def get(name: str) -> ServiceSpec:
    specs = load()
    if name not in specs:
        raise InputInvalid(f"service: {name[:60]!r} is not described; have {sorted(specs)}")
    return specs[name]


def for_scope(scope: str) -> ServiceSpec | None:
    """The ingestion service that subscribes a scope's topics, if one is described."""
    return next((s for s in load().values() if scope in s.ingestionScopes), None)


def for_alarm(alarm_name: str) -> ServiceSpec:
    for spec in load().values():
        if alarm_name in spec.alarms:
            return spec
    raise InputInvalid(f"detail.alarmName: {alarm_name[:80]!r} maps to no described service")
