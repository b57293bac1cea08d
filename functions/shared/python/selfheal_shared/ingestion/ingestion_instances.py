"""The Aupus ingestion instances of runbook 004 (primary VPS, backup) as selfheal sees them:
registered in Parameter Store, each a managed host (`selfheal:host=<host>`) whose aupus-api
runs under pm2 with `.env`'s MQTT_MODE (production | development), writing the shared
PostgreSQL database with a role of its own; the database is administered from its own host.

Everything goes through SSM Command documents (`ingestion_documents`) whose parameters SSM
validates; the values come from the registry (validated again here), never from an event:

- `observe`: one instance read on its host (unreachable: the command is not delivered);
- `set_mode`: `.env` + `pm2 restart aupus-api`, waited for until the app answers in it;
- `fence`: REVOKE/GRANT INSERT for an instance's role, from the database host: the fence
  that needs no cooperation from an unreachable instance;
- `writers`: which INSTANCE_ID wrote since a time of the database's clock, which roles may
  INSERT: the proof of a single writer.

The pure part (`choose`, `plan`, `judge`) decides which instance keeps production, what the
others need, and whether the rows prove it done.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, Field

from ..core import host_shell, run_command
from ..core.clients import client
from ..core.errors import NothingFound
from ..core.models import parse
from . import ingestion_documents as docs

Mode = Literal["production", "development"]
PRODUCTION: Mode = "production"
DEVELOPMENT: Mode = "development"
#: Which alarm transition asks for what.
FAILOVER, HANDBACK, CONFLICT = "failover", "handback", "conflict"
#: The tag that names a managed host (the described services' `ssm.tagKey`).
HOST_TAG = "selfheal:host"
HOST_PATTERN = r"^[a-z0-9][a-z0-9-]{0,62}$"
#: The database's "recent" window for `writers` (WRITERS' `since`).
RECENT = "recent"


class Instance(BaseModel):
    name: str = Field(pattern=HOST_PATTERN)
    #: The `selfheal:host` tag value of its managed host.
    host: str = Field(pattern=HOST_PATTERN)
    #: Its database role: what the fence revokes.
    role: str = Field(pattern=docs.ROLE_PATTERN)
    #: Its `.env` INSTANCE_ID: what its rows carry.
    instanceId: str = Field(pattern=docs.INSTANCE_PATTERN)
    #: Lower is preferred: the primary is 0 ("geralmente: servidor principal").
    priority: int = Field(ge=0)
    #: Who the runbook logs in as on its host (`ssh user@vps-ip`): whose pm2 runs aupus-api.
    runAs: str = Field(pattern=host_shell.USER_PATTERN)
    #: The backend's directory under that user's home (where its `.env` is).
    directory: str = Field(pattern=host_shell.DIRECTORY_PATTERN)

    def where(self) -> dict[str, list[str]]:
        """OBSERVE's and SET_MODE's `user` and `directory`."""
        return {"user": [self.runAs], "directory": [self.directory]}


class Database(BaseModel):
    #: The `selfheal:host` tag value of the database administration host.
    host: str = Field(pattern=HOST_PATTERN)
    #: The user there whose login reaches the Aupus database as its owner (peer
    #: authentication as `postgres`, or that user's PG* variables).
    runAs: str = Field(default="postgres", pattern=host_shell.USER_PATTERN)
    #: The Aupus database's name (runbook 004 `psql -d aupus`).
    name: str = Field(pattern=docs.DATABASE_PATTERN)


#: The instances a group may register: runbook 004's primary VPS and its backup. The
#: failover's Lambda timeouts are sized for this many (tests/contract/test_timeouts.py).
MAX_INSTANCES = 2


#: No hand-back within this many minutes of the last failover (a primary that flaps would
#: flip production back and forth): three of the runbook's 5-minute checks.
HANDBACK_COOLDOWN_MINUTES = 15
#: The longest cooldown a group may set: the workflow waits it out once (a Wait state) before
#: it tries the hand-back again, inside its execution timeout.
MAX_HANDBACK_COOLDOWN_MINUTES = 24 * 60


class Registry(BaseModel):
    database: Database
    instances: list[Instance] = Field(min_length=1, max_length=MAX_INSTANCES)
    #: The group's own hand-back cooldown (minutes since the last failover), if not 15.
    handbackCooldownMinutes: int = Field(
        default=HANDBACK_COOLDOWN_MINUTES, ge=0, le=MAX_HANDBACK_COOLDOWN_MINUTES
    )


def parameter_name(group: str) -> str:
    return f"/selfheal/ingestion/{group}/instances"


def load(group: str) -> Registry:
    """The group's registry (Parameter Store), instances by priority."""
    try:
        text = client("ssm").get_parameter(Name=parameter_name(group))["Parameter"]["Value"]
    except client("ssm").exceptions.ParameterNotFound:
        raise NothingFound(f"no instances registered for ingestion group {group!r}") from None
    reg = parse(Registry, json.loads(text), f"instance registry {parameter_name(group)}")
    reg.instances.sort(key=lambda i: (i.priority, i.name))
    return reg


def registry(group: str) -> list[Instance]:
    return load(group).instances


# -- reading -----------------------------------------------------------------------------


def _waits(document: str) -> dict[str, Any]:
    """SendCommand's delivery timeout for `document`, and how long its outcome is waited
    for: delivery, then its execution timeout (`ingestion_documents.budget`)."""
    return {"delivery_seconds": docs.DELIVERY_SECONDS, "wait_seconds": docs.budget(document)}


@dataclass(frozen=True)
class Observed:
    """One instance as read on its host just now."""

    name: str
    priority: int
    reachable: bool
    #: pm2 runs aupus-api.
    running: bool = False
    #: The mode the running app answers in (`/health/mqtt`), None when it does not answer.
    mode: str | None = None
    #: `.env`'s MQTT_MODE: what the next restart runs in.
    envMode: str | None = None
    connected: bool = False
    #: P2002 lines in its pm2 logs.
    p2002: int | None = None
    error: str | None = None

    @property
    def healthy(self) -> bool:
        return self.reachable and self.running and self.connected

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "healthy": self.healthy}

    def describe(self) -> str:
        if not self.reachable:
            return f"{self.name} UNREACHABLE ({self.error})"
        app = f"running {self.mode}" if self.running and self.mode else "app DOWN"
        mqtt = "" if self.connected or not self.running else ", MQTT disconnected"
        return f"{self.name} {app} (.env {self.envMode}{mqtt})"


def _fields(stdout: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for line in stdout.splitlines():
        key, sep, value = line.partition("=")
        if sep:
            out[key.strip()] = value.strip()
    return out


def parse_observed(instance: Instance, answer: dict[str, Any]) -> Observed:
    """What OBSERVE printed (run_command.read's answer) as an `Observed`."""
    if answer["status"] != "Success":
        detail = answer.get("details") or answer.get("stderr") or ""
        return Observed(
            instance.name, instance.priority, False, error=f"{answer['status']} {detail}".strip()
        )
    got = _fields(answer["stdout"])
    try:
        mqtt = json.loads(got.get("mqtt") or "null")
    except ValueError:
        mqtt = None
    mqtt = mqtt if isinstance(mqtt, dict) else {}
    pid = got.get("pid", "")
    count = got.get("p2002", "")
    return Observed(
        instance.name,
        instance.priority,
        True,
        running=pid.isdigit() and int(pid) > 0,
        mode=mqtt.get("mode") if isinstance(mqtt.get("mode"), str) else None,
        envMode=got.get("env_mode") or None,
        connected=mqtt.get("status") == "connected",
        p2002=int(count) if count.isdigit() else None,
    )


def observe(instance: Instance) -> Observed:
    """Read the instance on its host (OBSERVE): unreachable when the command is not
    delivered (its agent offline) or no host carries its tag."""
    answer = run_command.read(
        HOST_TAG,
        instance.host,
        docs.OBSERVE,
        instance.where(),
        f"observe {instance.name}",
        **_waits(docs.OBSERVE),
    )
    return parse_observed(instance, answer)


def observe_all(instances: list[Instance]) -> list[Observed]:
    """Every instance read on its host (OBSERVE), as `observe` reads one, each command sent
    before any is waited for: the hosts run them side by side, so an unreachable one costs
    its delivery timeout once, not once per instance (the scheduled probe's reading)."""
    sent = [
        (
            instance,
            run_command.send_read(
                HOST_TAG,
                instance.host,
                docs.OBSERVE,
                instance.where(),
                f"observe {instance.name}",
                delivery_seconds=docs.DELIVERY_SECONDS,
            ),
        )
        for instance in instances
    ]
    return [
        parse_observed(instance, run_command.read_result(command_id, docs.budget(docs.OBSERVE)))
        for instance, command_id in sent
    ]


@dataclass(frozen=True)
class Writers:
    """What the database says: its time now, who wrote since, which roles may INSERT."""

    now: str
    since: str
    #: INSTANCE_ID -> rows written since `since`.
    wrote: dict[str, int] = field(default_factory=dict)
    #: INSTANCE_ID -> (first, last) write since `since`.
    spans: dict[str, tuple[str, str]] = field(default_factory=dict)
    #: role -> may INSERT.
    insert: dict[str, bool] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def fenced(self) -> str:
        """The roles that may not INSERT (what the record says: no count, no time)."""
        fenced = sorted(r for r, ok in self.insert.items() if not ok)
        return f"fenced roles: {', '.join(fenced) or 'none'}"

    def describe(self) -> str:
        wrote = ", ".join(f"{k} {v} rows" for k, v in sorted(self.wrote.items())) or "nobody"
        return f"since {self.since}: {wrote} wrote; {self.fenced()}"


def parse_writers(since: str, stdout: str) -> Writers:
    now = ""
    wrote: dict[str, int] = {}
    spans: dict[str, tuple[str, str]] = {}
    insert: dict[str, bool] = {}
    for line in stdout.splitlines():
        parts = line.split("|")
        if parts[0] == "now" and len(parts) == 2:
            now = parts[1]
        elif parts[0] == "wrote" and len(parts) == 5:
            wrote[parts[1]] = int(parts[2])
            spans[parts[1]] = (parts[3], parts[4])
        elif parts[0] == "insert" and len(parts) == 3:
            insert[parts[1]] = parts[2] == "t"
    if not now:
        raise RuntimeError(f"the database's answer has no time: {stdout[:300]!r}")
    return Writers(now, since, wrote, spans, insert)


def writers(database: Database, since: str = RECENT) -> Writers:
    """Who wrote since `since` (the database's clock, as WRITERS printed it; `recent`: the
    last 5 minutes), from the database host. Raises when the database does not answer."""
    answer = run_command.read(
        HOST_TAG,
        database.host,
        docs.WRITERS,
        {"user": [database.runAs], "database": [database.name], "since": [since]},
        "ingestion writers",
        **_waits(docs.WRITERS),
    )
    if answer["status"] != "Success":
        raise ConnectionError(
            f"database host {database.host}: {answer['status']} {answer.get('details', '')} "
            f"{answer.get('stderr', '')}".strip()
        )
    return parse_writers(since, answer["stdout"])


# -- acting ------------------------------------------------------------------------------


def set_mode(instance: Instance, mode: Mode, key: str) -> dict[str, Any]:
    """SET_MODE on the instance's host under the effect `key`: `.env` + `pm2 restart
    aupus-api`, returning once the app answers in `mode` (else the command fails)."""
    return run_command.run_document(
        HOST_TAG,
        instance.host,
        docs.SET_MODE,
        {**instance.where(), "mode": [mode]},
        key,
        f"ingestion {mode}",
        **_waits(docs.SET_MODE),
    )


def fence(database: Database, instance: Instance, action: str, key: str) -> dict[str, Any]:
    """FENCE from the database host: `fence` revokes the instance's role's INSERT,
    `unfence` grants it back."""
    assert action in ("fence", "unfence")
    return run_command.run_document(
        HOST_TAG,
        database.host,
        docs.FENCE,
        {
            "user": [database.runAs],
            "database": [database.name],
            "action": [action],
            "role": [instance.role],
            "instance": [instance.instanceId],
        },
        key,
        f"ingestion {action} {instance.role}",
        **_waits(docs.FENCE),
    )


def switched_to(output: str) -> tuple[str | None, str | None]:
    """What SET_MODE read back after the restart: `.env`'s MQTT_MODE and the mode the app
    answers in (connected), or None for what it did not print."""
    got = _fields(output.replace(" | ", "\n"))
    try:
        mqtt = json.loads(got.get("mqtt") or "null")
    except ValueError:
        mqtt = None
    app = mqtt.get("mode") if isinstance(mqtt, dict) and mqtt.get("status") == "connected" else None
    return got.get("env_mode") or None, app if isinstance(app, str) else None


def fenced_to(output: str) -> tuple[bool | None, dict[str, bool]]:
    """What FENCE read back after the change: whether the registered role may INSERT (None:
    not printed), and each role the instance's sessions log in as -> may INSERT."""
    may: bool | None = None
    sessions: dict[str, bool] = {}
    for line in output.replace(" | ", "\n").splitlines():
        parts = line.strip().split("|")
        if parts[0] == "insert" and len(parts) == 2:
            may = parts[1] == "t"
        elif parts[0] == "session" and len(parts) == 3:
            sessions[parts[1]] = parts[2] == "t"
    return may, sessions


def sent(key: str, document: str) -> dict[str, Any] | None:
    """The command sent under `key` (`run_command.sent`), waited for as long as it runs."""
    return run_command.sent(key, document, wait_seconds=docs.budget(document))


# -- deciding ----------------------------------------------------------------------------


def choose(observed: list[Observed], trigger: str, holder: str | None) -> str | None:
    """The instance that should hold the lease and be in production. On a conflict the
    valid holder keeps it while healthy (runbook 004 "Decidir qual instância manter"); else
    the preferred healthy instance: the primary when it answers, the backup when not."""
    healthy = sorted((o for o in observed if o.healthy), key=lambda o: (o.priority, o.name))
    if trigger == CONFLICT and holder in {o.name for o in healthy}:
        return holder
    return healthy[0].name if healthy else None


@dataclass(frozen=True)
class Step:
    """One change: `demote` (development), `fence` (INSERT revoked), `promote`
    (production), `unfence` (INSERT granted), on the instance `name`."""

    action: str
    name: str
    why: str


def plan(
    observed: list[Observed], keep: str, roles: dict[str, str], insert: dict[str, bool]
) -> list[Step]:
    """The changes, every other instance first (runbook 004 "Evitar 2 instâncias em
    production simultaneamente"): one running on a host that answers is put in development
    there; one whose host does not answer (it may still be writing), or whose app is down
    with `.env` in production (a start would bring it back writing), is fenced in the
    database. Only then the kept one is put in production and its writes allowed."""
    steps: list[Step] = []
    for o in observed:
        if o.name == keep:
            continue
        may_write = insert.get(roles[o.name], True)
        if o.reachable and o.running and PRODUCTION in (o.mode, o.envMode):
            steps.append(Step("demote", o.name, f"{o.name} is in production on its host"))
        elif not o.reachable and may_write:
            steps.append(
                Step("fence", o.name, f"{o.name} does not answer and its role may still write")
            )
        elif o.envMode == PRODUCTION and may_write:
            steps.append(
                Step("fence", o.name, f"{o.name} is down with .env in production: a start "
                     "would bring it back writing")
            )  # fmt: skip
    kept = next(o for o in observed if o.name == keep)
    if kept.mode != PRODUCTION or kept.envMode != PRODUCTION:
        steps.append(Step("promote", keep, f"{keep} is to be the only instance in production"))
    if not insert.get(roles[keep], True):
        steps.append(Step("unfence", keep, f"{keep}'s role is fenced: it could not write"))
    return steps


def judge(
    keep: Instance,
    after: Writers,
    p2002_before: dict[str, int],
    p2002_after: dict[str, int | None],
) -> str | None:
    """None when the rows prove it: since the switch only `keep` wrote, it did write (data
    arrives), and no instance logged a new P2002. Otherwise what was seen."""
    problems = []
    others = sorted(i for i in after.wrote if i != keep.instanceId)
    if others:
        problems.append(f"rows from {', '.join(others)} since the switch")
    if not after.wrote.get(keep.instanceId):
        problems.append(f"no row from {keep.instanceId} since the switch (no data arriving)")
    for name, count in sorted(p2002_after.items()):
        before = p2002_before.get(name)
        if count is not None and before is not None and count > before:
            problems.append(f"{count - before} new P2002 on {name}")
    return "; ".join(problems) or None
