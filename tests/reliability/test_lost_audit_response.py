"""Every audit write lands, then its response is lost and botocore retries it: the retry
finds the record its first attempt wrote. That counts as written, so no run fails after
its work was done, and no run ends FIXED without its records."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ConnectionClosedError
from moto.core.models import botocore_stubber
from selfheal_shared.core import clients

from local.runtime import Pipeline
from local.worlds import WorldSpec
from tests.helpers import FIVE_XX, SAMPLES, load_event


class LosesFirstResponse:
    """A network that delivers each audit PutItem and drops the first response to it."""

    def __init__(self, table: str) -> None:
        self.table = table
        self.seen: set[bytes] = set()
        self.lost = 0

    def __call__(self, request: Any, event_name: str, **kwargs: Any) -> Any:
        body = request.body if isinstance(request.body, bytes) else str(request.body).encode()
        if json.loads(body).get("TableName") != self.table or body in self.seen:
            return None  # moto answers as usual
        self.seen.add(body)
        botocore_stubber(event_name=event_name, request=request)  # the write lands...
        self.lost += 1
        raise ConnectionClosedError(endpoint_url=request.url)  # ...its response does not


@pytest.fixture
def lossy(make_pipeline: Any) -> Iterator[Any]:
    def make(**kwargs: Any) -> tuple[Pipeline, LosesFirstResponse]:
        p = make_pipeline(**kwargs)
        network = LosesFirstResponse(p.tables["audit"])
        clients.client("dynamodb").meta.events.register(
            "before-send.dynamodb.PutItem", network, unique_id="lose-first-audit-response"
        )
        return p, network

    yield make


def actions_recorded(p: Pipeline) -> list[str]:
    """Each step's own records (notify adds an outcome record per action it reports)."""
    return [r["action"] for r in p.audit_records() if r["actor"] != "notify"]


def test_rollback_survives_a_lost_response_on_every_audit_write(lossy: Any) -> None:
    p, network = lossy()
    [run] = p.run_event(load_event(FIVE_XX))

    assert network.lost >= 4, "every audit write lost its first response"
    assert run["status"] == "SUCCEEDED"
    assert {a["name"]: a["outcome"] for a in run["actions"]} == {"rollback_alias": "FIXED"}
    records = actions_recorded(p)
    assert records.count("rollback_alias") == records.count("rollback_alias_intent") == 1
    assert (
        p.client("lambda").get_alias(FunctionName="orders-api", Name="live")["FunctionVersion"]
        == "2"
    )


def test_freeze_survives_a_lost_response_on_every_audit_write(
    lossy: Any, ingestion_world_spec: WorldSpec
) -> None:
    p, network = lossy(world_spec=ingestion_world_spec)
    [run] = p.run_event(
        load_event(SAMPLES / "freeze_ingestion.validation_failures_alarm.json"),
        gate_decision="resume",
        acknowledge=("ons-geracao",),
    )

    assert network.lost >= 10
    assert run["status"] == "SUCCEEDED", run
    records = actions_recorded(p)
    assert records.count("freeze_manifest") == 1 and records.count("resume_ingestion") == 1
    for action in {r for r in records if r.endswith("_intent")}:
        done = action.removesuffix("_intent")
        assert records.count(done) == records.count(action), f"{done}: intent without record"
