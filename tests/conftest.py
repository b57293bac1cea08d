"""Shared fixtures: a fresh local pipeline (moto + in-process Lambdas) per test."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from selfheal_cdk import spec as spec_mod

from local.iam_enforcement import RECORD_ENV
from local.runtime import Pipeline
from local.worlds import World, WorldSpec
from tests import iam_report
from tests.helpers import FIVE_XX, load_event, spec_for

_IAM_REPORT = pytest.StashKey[iam_report.Report]()


def pytest_configure(config: pytest.Config) -> None:
    """Every pipeline of the session (xdist workers inherit the variable) records the calls
    its roles made, for the grants report at the end."""
    if not hasattr(config, "workerinput") and not os.environ.get(RECORD_ENV):
        os.environ[RECORD_ENV] = tempfile.mkdtemp(prefix="selfheal-iam-")


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """A call no grant allows fails the session, even one a handler caught and survived."""
    if hasattr(session.config, "workerinput"):
        return
    report = iam_report.read(Path(os.environ[RECORD_ENV]), spec_mod.load())
    session.config.stash[_IAM_REPORT] = report
    if report.denied and session.exitstatus == 0:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    report = config.stash.get(_IAM_REPORT, None)
    if report is None:
        return
    whole_suite = not config.args or config.args == ["tests"]
    lines = (report.usage_lines() if whole_suite else []) + report.refused_lines()
    if lines:
        terminalreporter.write_line("\n".join(lines))


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
