"""DynamoDB's conditional writes are atomic in AWS; moto's are not across threads, so the
local runtime serialises them. Forty concurrent claims against a cap must grant exactly
the cap, or budgets, leases and cooldowns mean nothing in the storm tests."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from botocore.exceptions import ClientError
from selfheal_shared.core import guards

from local.runtime import Pipeline

CLAIMS, CAP = 40, 10


def race(claim: Callable[[int], bool]) -> list[int]:
    """Run `claim(n)` for n in 0..39 on 40 threads released at once; the n that won."""
    start = threading.Barrier(CLAIMS)
    won: list[int] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def run(n: int) -> None:
        try:
            start.wait(timeout=30)
            if claim(n):
                with lock:
                    won.append(n)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(n,)) for n in range(CLAIMS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not any(t.is_alive() for t in threads), "a claim hung"
    assert not errors, errors
    return won


def test_a_conditional_counter_grants_exactly_its_cap(pipeline: Pipeline) -> None:
    ddb, table = pipeline.client("dynamodb"), pipeline.tables["guard_state"]
    key: dict[str, Any] = {"pk": {"S": "budget#edge_restart#minute-1"}}

    def claim(n: int) -> bool:
        try:
            ddb.update_item(
                TableName=table,
                Key=key,
                UpdateExpression="ADD n :one",
                ConditionExpression="attribute_not_exists(n) OR n < :cap",
                ExpressionAttributeValues={":one": {"N": "1"}, ":cap": {"N": str(CAP)}},
            )
        except ClientError as exc:
            assert exc.response["Error"]["Code"] == "ConditionalCheckFailedException"
            return False
        return True

    assert len(race(claim)) == CAP
    item = ddb.get_item(TableName=table, Key=key, ConsistentRead=True)["Item"]
    assert item["n"] == {"N": str(CAP)}


def test_forty_executions_claiming_one_cooldown_let_exactly_one_act(pipeline: Pipeline) -> None:
    decisions: dict[int, guards.GuardDecision] = {}

    def claim(n: int) -> bool:
        decisions[n] = guards.evaluate(
            automation="edge_offline_ladder",
            resource="edge-cps-001",
            incident_id=f"inc-{n}",
            execution_id=f"exec-{n}",
            cooldown_minutes=30,
        )
        return decisions[n].proceed

    [winner] = race(claim)
    losers = [d for n, d in decisions.items() if n != winner]
    assert len(losers) == CLAIMS - 1
    assert {d.guard for d in losers} == {"cooldown"}
    assert all(f"incident inc-{winner}" in d.reason for d in losers), "they name the holder"


def test_one_incident_delivered_forty_times_is_handled_once(pipeline: Pipeline) -> None:
    decisions: dict[int, guards.GuardDecision] = {}

    def claim(n: int) -> bool:
        decisions[n] = guards.evaluate(
            automation="rollback_on_5xx",
            resource="orders-api",
            incident_id="inc-same-alarm",
            execution_id=f"exec-{n}",
            cooldown_minutes=30,
        )
        return decisions[n].proceed

    [winner] = race(claim)
    assert {d.guard for n, d in decisions.items() if n != winner} == {"duplicate"}
