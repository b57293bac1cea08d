"""The simulated world the local pipeline acts on, one world per domain (the stacks'
domains, the folders of `functions/`): `local/worlds/<domain>/` holds that domain's
simulators, its part of a world file and its demo scenes. The world files themselves
(`demo.json`, the default; `selfheal replay --world FILE`) sit here.

This package is what the runtime may import of the worlds, and all it calls:

- `World` (`World.load(path)`, `World(spec)`): seeded into the pipeline when it is built
  (`seed`) and moved whenever virtual time passes (`evaluate`), each domain's part in turn;
- `scene_for(sample)` / `scenes()` and `acts()`: what `selfheal demo` puts around each sample
  and the stories it tells after them, from every domain's `SCENES` and `ACTS`, found by
  convention (a package under `local/worlds/` with those names);
- `running_services` / `services_needed_for`: the described services as real processes,
  behind `selfheal serve` and a replay whose event is about them.

A world imports the runtime only through `local/world_api.py`, another world only through
its package, never this one (`tests/contract/test_local_imports.py`).
"""

from __future__ import annotations

import functools
import importlib
import json
import pkgutil
from pathlib import Path

from pydantic import Field

from local.world_api import NONE, Act, Pipeline, Scene
from local.worlds.data import DataSpec, DataWorld
from local.worlds.deploy import DeploySpec, DeployWorld
from local.worlds.edge import EdgeSpec, EdgeWorld
from local.worlds.ml import MlSpec, MlWorld
from local.worlds.platform import SecuritySpec, SecurityWorldPart
from local.worlds.reports import ReportsSpec, ReportsWorld
from local.worlds.services import needed_for as services_needed_for
from local.worlds.services import running as running_services

__all__ = [
    "DEMO_WORLD",
    "NONE",
    "Act",
    "Scene",
    "World",
    "WorldSpec",
    "acts",
    "running_services",
    "scene_for",
    "scenes",
    "services_needed_for",
]

DEMO_WORLD = Path(__file__).parent / "demo.json"


class WorldSpec(SecuritySpec, MlSpec, ReportsSpec, EdgeSpec, DataSpec, DeploySpec):
    """A world file: each domain's sections (a domain with none seeds nothing), and the
    deployment's own settings."""

    description: str = ""
    #: The instances of templated alarm definitions this deployment has (what cdk.json's
    #: `selfheal:alarmInstances` names in AWS), unless `Pipeline(alarm_instances=...)` says.
    alarmInstances: dict[str, list[dict[str, str]]] = Field(default_factory=dict)


class World(DeployWorld, DataWorld, EdgeWorld, ReportsWorld, MlWorld, SecurityWorldPart):
    """The simulated world: every domain's part, seeded in this order (the deploy world's
    ids first, before the data world starts the executions that draw moto's ids too)."""

    spec: WorldSpec

    def __init__(self, spec: WorldSpec) -> None:
        super().__init__(spec)

    @classmethod
    def load(cls, path: Path = DEMO_WORLD) -> World:
        return cls(WorldSpec.model_validate(json.loads(path.read_text())))

    def seed(self, p: Pipeline) -> None:
        self.seed_deploy(p)
        self.seed_data(p)
        self.seed_edge(p)
        self.seed_reports(p)
        self.seed_ml(p)
        self.seed_security(p)

    def evaluate(self, p: Pipeline) -> None:
        self.evaluate_deploy(p)
        self.evaluate_data(p)


@functools.cache
def _domains() -> tuple[str, ...]:
    return tuple(sorted(m.name for m in pkgutil.iter_modules(__path__) if m.ispkg))


@functools.cache
def scenes() -> dict[str, Scene]:
    """Every domain's `SCENES`, keyed by sample (`<rule>.<case>`, or `<rule>`)."""
    out: dict[str, Scene] = {}
    for domain in _domains():
        module = importlib.import_module(f"{__name__}.{domain}")
        for key, scene in getattr(module, "SCENES", {}).items():
            if key in out:
                raise ValueError(f"two worlds have a scene for {key!r} (one is {domain!r})")
            out[key] = scene
    return out


def acts() -> list[Act]:
    """Every domain's `ACTS`, in the domains' order."""
    out: list[Act] = []
    for domain in _domains():
        out += getattr(importlib.import_module(f"{__name__}.{domain}"), "ACTS", [])
    return out


def scene_for(sample: Path) -> Scene:
    """The scene of `<rule>.<case>.json`: its own, else its rule's, else none."""
    name = sample.name.removesuffix(".json")
    found = scenes()
    return found.get(name) or found.get(name.split(".", 1)[0]) or NONE
