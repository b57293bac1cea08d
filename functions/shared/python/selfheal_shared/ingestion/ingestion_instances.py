"""The MQTT ingestion instances of runbook 004 (primary VPS, backup) as selfheal sees them:
registered in Parameter Store, read for real over HTTP (`/health`, `/mode`), switched with
one call, `set_mode`.

`set_mode` is the only way selfheal switches an instance: SSM Run Command on its host (the
VPS, hybrid-activated, tagged `selfheal:ingestion-instance=<name>`), the runbook's "Editar
.env ... pm2 restart aupus-api" as `MQTT_MODE=<mode> SELFHEAL_FENCE=<token> pm2 restart
aupus-api --update-env`. The fencing token travels with it: the host refuses a token
lower than the highest it has seen (the command fails saying "fenced"). The mode is then
read back from the instance itself, never taken from the command's status.

The pure part (`choose`, `demotions`, `problem`) decides which instance keeps production.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass
from typing import Any, Literal

from pydantic import BaseModel, Field

from ..core import run_command
from ..core.clients import client
from ..core.errors import NothingFound
from ..core.models import parse
from .ingestion_lease import LeaseLost

Mode = Literal["production", "standby"]
PRODUCTION: Mode = "production"
STANDBY: Mode = "standby"
#: A health check that takes longer than this is a failed one (runbook 004: "SSH timeout").
TIMEOUT_SECONDS = 3.0
#: Which alarm transition asks for what.
FAILOVER, HANDBACK, CONFLICT = "failover", "handback", "conflict"


class Instance(BaseModel):
    name: str = Field(min_length=1, max_length=64)
    #: Base URL of the instance's health and admin endpoints.
    url: str = Field(pattern=r"^https?://[^\s]+$")
    #: Lower is preferred: the primary is 0 ("geralmente: servidor principal").
    priority: int = Field(ge=0)


class Registry(BaseModel):
    instances: list[Instance] = Field(min_length=1)


def parameter_name(group: str) -> str:
    return f"/selfheal/ingestion/{group}/instances"


def registry(group: str) -> list[Instance]:
    """The group's instances, by priority (from Parameter Store)."""
    try:
        text = client("ssm").get_parameter(Name=parameter_name(group))["Parameter"]["Value"]
    except client("ssm").exceptions.ParameterNotFound:
        raise NothingFound(f"no instances registered for ingestion group {group!r}") from None
    reg = parse(Registry, json.loads(text), f"instance registry {parameter_name(group)}")
    return sorted(reg.instances, key=lambda i: (i.priority, i.name))


@dataclass(frozen=True)
class Observed:
    """One instance as read just now: healthy, and the mode it reports itself."""

    name: str
    priority: int
    healthy: bool
    mode: str | None
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _call(url: str, body: dict[str, Any] | None = None) -> tuple[int, dict[str, Any]]:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=TIMEOUT_SECONDS) as resp:
            return int(resp.status), dict(json.loads(resp.read() or b"{}"))
    except urllib.error.HTTPError as exc:
        return exc.code, dict(json.loads(exc.read() or b"{}"))


def observe(instance: Instance) -> Observed:
    """Read the instance for real: `/health` answering 200, and the mode it reports."""
    try:
        status, body = _call(f"{instance.url}/health")
    except (OSError, ValueError) as exc:
        return Observed(instance.name, instance.priority, False, None, f"unreachable: {exc}")
    mode = body.get("mode") if isinstance(body.get("mode"), str) else None
    error = None if status == 200 else f"/health answered {status}"
    return Observed(instance.name, instance.priority, status == 200, mode, error)


#: The tag that names an ingestion instance's host for Run Command.
HOST_TAG = "selfheal:ingestion-instance"


def mode_command(mode: Mode, token: int) -> str:
    return f"MQTT_MODE={mode} SELFHEAL_FENCE={token} pm2 restart aupus-api --update-env"


def set_mode(instance: Instance, mode: Mode, token: int, key: str) -> str:
    """Switch the instance to `mode` under the lease's fencing `token` (Run Command on its
    host, once under the effect `key`); returns the mode the instance reports afterwards."""
    done = run_command.run(
        HOST_TAG, instance.name, [mode_command(mode, token)], key, f"selfheal ingestion {mode}"
    )
    if done["status"] != "Success":
        if "fenced" in done["output"]:
            raise LeaseLost(f"{instance.name} refused token {token}: {done['output']}")
        raise ConnectionError(
            f"{instance.name}: the mode change ended {done['status']}: {done['output']}"
        )
    seen = observe(instance)
    return str(seen.mode)


def choose(observed: list[Observed], trigger: str, holder: str | None) -> str | None:
    """The instance that should hold the lease and be in production. On a conflict the
    valid holder keeps it while healthy (runbook 004 "Decidir qual instância manter"); else
    the preferred healthy instance: the primary when it answers, the backup when not."""
    healthy = sorted((o for o in observed if o.healthy), key=lambda o: (o.priority, o.name))
    if trigger == CONFLICT and holder in {o.name for o in healthy}:
        return holder
    return healthy[0].name if healthy else None


def demotions(observed: list[Observed], keep: str) -> list[str]:
    """Every instance reporting production but the one kept (runbook 004 "DESLIGAR todas
    as outras")."""
    return [o.name for o in observed if o.mode == PRODUCTION and o.name != keep]


def problem(observed: list[Observed], holder: str | None) -> str | None:
    """None when exactly one instance reports production and it holds the lease."""
    production = [o.name for o in observed if o.mode == PRODUCTION]
    if production == [holder]:
        return None
    return (
        f"{len(production)} in production ({', '.join(production) or 'none'}), "
        f"lease holder {holder or 'none'}"
    )
