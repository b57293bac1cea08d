"""What the runtime offers a simulated world: the one module of the runtime that a world
(`local/worlds/<domain>/`) imports.

- `Pipeline`: the running pipeline a world is seeded into and moves with (local/host.py);
- `Scene` / `Act`: what a world gives `selfheal demo` (its scenes around the samples, its
  stories with no sample), found by convention in each world's package (`SCENES`, `ACTS`);
- the runtime's stand-ins a world's simulators connect to: the MQTT broker (IoT Core's
  broker, `local/broker.py`), the IoT rules' bridge (`local/mqtt_bridge.py`), the account,
  the real PostgreSQL cluster the hosts' databases live in (`local/postgres.py`), and the
  real InfluxDB the data platform's records live in (`local/influx.py`).

The other way, the runtime imports `local.worlds` (its package only), and
`tests/contract/test_local_imports.py` holds both rules.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .broker import KEEPALIVE_SECONDS, Broker, mosquitto, publish_qos1, reconnecting
from .host import Pipeline, World
from .iam_roles import ACCOUNT
from .influx import InfluxServer
from .influx import shared as shared_influx
from .mqtt_bridge import Bridge
from .postgres import PostgresCluster
from .postgres import shared as shared_postgres
from .ssm_agent import Host

if TYPE_CHECKING:
    # A type only (re-exported for the type checker): the clock module imports moto.
    from .clock import VirtualClock as VirtualClock

__all__ = [
    "ACCOUNT",
    "KEEPALIVE_SECONDS",
    "NONE",
    "Act",
    "Bridge",
    "Broker",
    "Host",
    "InfluxServer",
    "Pipeline",
    "PostgresCluster",
    "Scene",
    "Stage",
    "World",
    "mosquitto",
    "publish_qos1",
    "reconnecting",
    "shared_influx",
    "shared_postgres",
]

#: Sets the world up before the sample; returns what runs once the sample is routed.
Stage = Callable[[Pipeline, ExitStack], Callable[[], None] | None]


def _nothing(p: Pipeline, stack: ExitStack) -> None:
    return None


@dataclass(frozen=True)
class Scene:
    """What a real deployment has behind a sample event at that moment, keyed in a world's
    `SCENES` by the sample's file name (`<rule>.<case>`, or `<rule>` for every case).

    `stage` starts and registers what the sample needs (cleanup on the stack) and may
    return `armed`: run with virtual time held, right before the sample is routed (the
    edge's next readings, which must start with the event). `scheduler`: the counted clock
    (edges on a broker take real time). `hold_until_gate`: keep virtual time still until
    the run parks at its gate (a gate's own timeout must not pass before the person
    answers, 12 virtual minutes later). `acknowledge`: what the person acknowledges with
    the answer. Outcomes are never staged: a scene only sets up the world the sample
    implies, and the workflow's own checks decide."""

    stage: Stage = _nothing
    #: The stage starts the described services itself (else a replay that needs them
    #: starts them healthy).
    services: bool = False
    scheduler: bool = False
    hold_until_gate: bool = False
    acknowledge: tuple[str, ...] = ()


NONE = Scene()


@dataclass(frozen=True)
class Act:
    """A story `selfheal demo` tells after the samples, with no sample event, listed in a
    world's `ACTS`. It runs in the demo world without the sections named in `without`, on
    the counted clock. `stage` starts what the story needs (cleanup on the stack) and
    returns `happen`: the timeline starts right before it; it makes the incident happen
    and returns the executions to show once they ended."""

    title: str
    stage: Callable[[Pipeline, ExitStack], Callable[[], list[str]]]
    without: tuple[str, ...] = ()
