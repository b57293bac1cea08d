"""Unit tests run handlers and shared modules directly, never a workflow, so their pipeline
has the functions, tables and topics but no rules or state machines: creating a state
machine makes moto parse its ASL with ANTLR (~0.3 s each, per test). tests/workflow runs
the real rules and state machines."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from selfheal_cdk import spec as spec_mod

from local.runtime import Pipeline
from local.worlds import World, WorldSpec


@pytest.fixture(scope="session")
def functions_only_spec() -> spec_mod.Spec:
    return dataclasses.replace(spec_mod.load(), rules={}, workflows={}, schedules={})


@pytest.fixture
def make_pipeline(
    world_spec: WorldSpec, functions_only_spec: spec_mod.Spec
) -> Iterator[Callable[..., Pipeline]]:
    started: list[Pipeline] = []

    def make(**kwargs: Any) -> Pipeline:
        kwargs.setdefault("spec", functions_only_spec)
        p = Pipeline(world=World(kwargs.pop("world_spec", world_spec)), **kwargs)
        p.__enter__()
        started.append(p)
        return p

    yield make
    for p in reversed(started):
        p.__exit__(None, None, None)
