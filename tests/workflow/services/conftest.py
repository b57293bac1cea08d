"""The described services on their real hosts (local/worlds/services) and a pipeline holding
only the service-recovery workflows, in scheduler-clock mode: the runtime's SSM agent runs
the checks and restarts on the hosts for real. Every process is killed at the end of the
test, pass or fail."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from selfheal_cdk import spec as spec_mod

from local.runtime import Pipeline
from local.worlds import World
from local.worlds.services import ServiceSim, attach
from tests.helpers import spec_for

WORKFLOWS = ("service_recovery", "partial_data")


@pytest.fixture(scope="session")
def service_spec() -> spec_mod.Spec:
    """The workflows' functions, and the probe that publishes their alarms' metrics."""
    spec = spec_for(WORKFLOWS)
    probe = spec_mod.load().functions["service_probe"]
    return dataclasses.replace(spec, functions={**spec.functions, probe.name: probe})


@pytest.fixture
def sim(tmp_path: Path) -> Iterator[ServiceSim]:
    s = ServiceSim(tmp_path)
    try:
        yield s
    finally:
        s.close()


@pytest.fixture
def pipeline(sim: ServiceSim, service_spec: spec_mod.Spec) -> Iterator[Pipeline]:
    world = World.load().spec.model_copy(deep=True)
    world.services, world.ingestion, world.edgeSites = [], [], []
    world.fiscal = world.forecasting = None
    p = Pipeline(world=World(world), scheduler=True, spec=service_spec)
    p.__enter__()
    try:
        attach(p, sim)
        yield p
    finally:
        p.__exit__(None, None, None)


def audit_actions(p: Pipeline) -> list[tuple[str, str]]:
    return [
        (r["action"], r["result"])
        for r in sorted(p.audit_records(), key=lambda r: str(r["seq"]))
        if not r["action"].endswith("_intent")
    ]


def pages(p: Pipeline) -> list[dict[str, Any]]:
    return [n for n in p.notifications() if "ESCALATION" in (n["subject"] or "")]
