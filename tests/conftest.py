"""Shared fixtures: a fresh local pipeline (moto + in-process Lambdas) per test."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from selfheal_cdk import spec as spec_mod

from local.runtime import Pipeline
from local.world import World, WorldSpec
from tests.helpers import FIVE_XX, load_event, spec_for


@pytest.fixture
def alarm_event() -> dict[str, Any]:
    return load_event(FIVE_XX)


@pytest.fixture
def world_spec() -> WorldSpec:
    """The demo world's services (no ingestion: faster to seed), as a model a test may
    change before the pipeline starts."""
    spec = World.load().spec.model_copy(deep=True)
    spec.ingestion = []
    spec.fiscal = spec.forecasting = None
    return spec


@pytest.fixture
def ingestion_world_spec() -> WorldSpec:
    """The demo world's data platform only."""
    spec = World.load().spec.model_copy(deep=True)
    spec.services = []
    spec.fiscal = spec.forecasting = None
    return spec


@pytest.fixture
def jobs_world_spec() -> WorldSpec:
    """The demo world's scheduled-job data only (organizations, systems, forecasts)."""
    spec = World.load().spec.model_copy(deep=True)
    spec.services, spec.ingestion, spec.edgeSites = [], [], []
    return spec


JOB_WORKFLOWS = ("fiscal_report", "retrain_model")


@pytest.fixture(scope="session")
def jobs_spec() -> spec_mod.Spec:
    """The scheduled jobs' workflows, rule, schedules and functions only: every state
    machine costs moto an ASL parse (~0.3 s) and every function a create call, per test."""
    return spec_for(JOB_WORKFLOWS, direct=True)


@pytest.fixture
def make_pipeline(world_spec: WorldSpec) -> Iterator[Any]:
    started: list[Pipeline] = []

    def make(**kwargs: Any) -> Pipeline:
        p = Pipeline(world=World(kwargs.pop("world_spec", world_spec)), **kwargs)
        p.__enter__()
        started.append(p)
        return p

    yield make
    for p in reversed(started):
        p.__exit__(None, None, None)


@pytest.fixture
def pipeline(make_pipeline: Any) -> Pipeline:
    return make_pipeline()
