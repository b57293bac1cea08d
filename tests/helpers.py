"""Paths and loaders the tests share (plain functions: conftest.py is pytest's, not a
module to import from)."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from selfheal_cdk import spec as spec_mod

    from local.runtime import Pipeline

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "events" / "samples"
NEAR_MISS = ROOT / "events" / "near_miss"
FIVE_XX = SAMPLES / "rollback_on_5xx.lambda_errors_alarm.json"


def load_event(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def spec_for(workflows: Iterable[str], *, direct: bool = False) -> spec_mod.Spec:
    """The convention files cut down to `workflows`, their rules, schedules and functions:
    every state machine costs moto an ASL parse and every function a create call, per test.
    `direct` keeps the functions no workflow calls (a schedule or an IoT rule invokes them)."""
    from selfheal_cdk import spec as spec_mod

    names = set(workflows)
    full = spec_mod.load()
    kept = {k: v for k, v in full.workflows.items() if k in names}
    used: set[str] = set().union(*(wf.functions for wf in kept.values()))
    if direct:
        used |= set(full.functions) - set().union(*(wf.functions for wf in full.workflows.values()))
    return dataclasses.replace(
        full,
        workflows=kept,
        functions={k: v for k, v in full.functions.items() if k in used},
        rules={k: v for k, v in full.rules.items() if v.workflow in names},
        schedules={k: v for k, v in full.schedules.items() if v.workflow in names},
    )


def hosts_only_pipeline() -> Iterator[Pipeline]:
    """A pipeline with managed hosts, SSM and its documents only: no function, rule or
    state machine to build, an empty world (for tests of the hosts themselves)."""
    from selfheal_cdk import spec as spec_mod

    from local.runtime import Pipeline
    from local.worlds import World

    spec = dataclasses.replace(spec_mod.load(), rules={}, workflows={}, schedules={}, functions={})
    world = World.load().spec.model_copy(deep=True)
    world.services, world.ingestion, world.edgeSites = [], [], []
    world.fiscal = world.forecasting = None
    with Pipeline(world=World(world), spec=spec) as p:
        yield p


def paging_tables(monkeypatch: Any) -> None:
    """Inside `mock_aws`: the guard-state table (page chains) and the audit table (their
    post-incident records), named in the environment as the functions read them."""
    import boto3

    ddb = boto3.client("dynamodb", region_name="us-east-1")
    ddb.create_table(
        TableName="guard",
        BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
    )
    monkeypatch.setenv("SELFHEAL_TABLE_GUARD_STATE", "guard")
    ddb.create_table(
        TableName="audit",
        BillingMode="PAY_PER_REQUEST",
        KeySchema=[
            {"AttributeName": "incidentId", "KeyType": "HASH"},
            {"AttributeName": "seq", "KeyType": "RANGE"},
        ],
        AttributeDefinitions=[
            {"AttributeName": "incidentId", "AttributeType": "S"},
            {"AttributeName": "seq", "AttributeType": "S"},
        ],
    )
    monkeypatch.setenv("SELFHEAL_TABLE_AUDIT", "audit")
