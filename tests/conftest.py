"""Shared fixtures: a fresh local pipeline (moto + in-process Lambdas) per test."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from local.runtime import Pipeline
from local.world import World, WorldSpec

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "events" / "samples"
NEAR_MISS = ROOT / "events" / "near_miss"
FIVE_XX = SAMPLES / "rollback_on_5xx.lambda_errors_alarm.json"


def load_event(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text())


@pytest.fixture
def alarm_event() -> dict[str, Any]:
    return load_event(FIVE_XX)


@pytest.fixture
def world_spec() -> WorldSpec:
    """The demo world's services (no ingestion: faster to seed), as a model a test may
    change before the pipeline starts."""
    spec = World.load().spec.model_copy(deep=True)
    spec.ingestion = []
    return spec


@pytest.fixture
def ingestion_world_spec() -> WorldSpec:
    """The demo world's data platform only."""
    spec = World.load().spec.model_copy(deep=True)
    spec.services = []
    return spec


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
