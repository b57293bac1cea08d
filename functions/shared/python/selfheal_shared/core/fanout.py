"""Bookkeeping of a fan-out (a Map over organizations or systems) with a tolerated-failure
limit, kept in the guard-state table under `run#<runId>`.

Step Functions' own ToleratedFailure* fields exist only for Distributed Map (and moto
ignores them), so the inline Map catches each item's failure, escalates that item, and
records it here. Items check `may_proceed` first: past the limit, the rest of the run is
not attempted (a fault that hits that many items is systemic) and the run pages higher.
"""

from __future__ import annotations

import math
from datetime import timedelta
from typing import Any

from botocore.exceptions import ClientError

from . import clock
from .clients import client
from .config import settings
from .outcomes import Outcome

#: Each item ends with an `outcome` from the project's one vocabulary; an item the run did
#: not attempt (over its failure limit, or another run holds the lease) is SKIPPED_BY_GUARD
#: with its reason.


def tolerated(total: int, percentage: float) -> int:
    """Failures a run of `total` items tolerates: the percentage rounded down, but at least
    one when the percentage is not 0 (one broken organization is never "systemic")."""
    if percentage <= 0 or total <= 0:
        return 0
    return min(total, max(1, math.floor(total * percentage / 100)))


def _key(run_id: str) -> dict[str, Any]:
    return {"pk": {"S": f"run#{run_id}"}}


def open_run(run_id: str, *, automation: str, total: int, tolerated_failures: int) -> None:
    """Create the ledger once; a retried plan step finds it and leaves it alone."""
    expires = clock.now() + timedelta(days=30)
    try:
        client("dynamodb").put_item(
            TableName=settings().guard_table,
            Item={
                **_key(run_id),
                "automation": {"S": automation},
                "total": {"N": str(total)},
                "tolerated": {"N": str(tolerated_failures)},
                "failures": {"N": "0"},
                "openedAt": {"S": clock.now().isoformat()},
                "ttl": {"N": str(int(expires.timestamp()))},
            },
            ConditionExpression="attribute_not_exists(pk)",
        )
    except ClientError as exc:
        if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
            raise


def ledger(run_id: str) -> dict[str, Any]:
    item = (
        client("dynamodb")
        .get_item(TableName=settings().guard_table, Key=_key(run_id), ConsistentRead=True)
        .get("Item")
    )
    if not item:
        raise LookupError(f"no fan-out ledger for run {run_id!r}")
    return {
        "total": int(item["total"]["N"]),
        "tolerated": int(item["tolerated"]["N"]),
        "failures": int(item["failures"]["N"]),
        "failed": sorted(item.get("failed", {}).get("SS", [])),
    }


def may_proceed(run_id: str) -> tuple[bool, str]:
    state = ledger(run_id)
    if state["failures"] > state["tolerated"]:
        return False, (
            f"not attempted: {state['failures']} items of this run already failed, over the "
            f"tolerated {state['tolerated']} of {state['total']}"
        )
    return True, ""


def record_failure(run_id: str, item: str) -> int:
    """Count one failed item (once per item, however often a retry reports it)."""
    try:
        resp = client("dynamodb").update_item(
            TableName=settings().guard_table,
            Key=_key(run_id),
            UpdateExpression="ADD failures :one, failed :item",
            ConditionExpression="attribute_exists(pk) AND NOT contains(failed, :name)",
            ExpressionAttributeValues={
                ":one": {"N": "1"},
                ":item": {"SS": [item]},
                ":name": {"S": item},
            },
            ReturnValues="ALL_NEW",
        )
    except ClientError as exc:
        if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
            raise
        return int(ledger(run_id)["failures"])
    return int(resp["Attributes"]["failures"]["N"])


def summarize(run_id: str, results: list[dict[str, Any]]) -> dict[str, Any]:
    """The run's outcome from its items' results and the ledger's limit."""
    state = ledger(run_id)
    by_status: dict[str, list[str]] = {}
    for r in results:
        # An item whose outcome is missing or outside the vocabulary did not say it
        # succeeded: it counts as failed.
        said = str(r.get("outcome", ""))
        status = said if said in Outcome.__members__ else Outcome.FAILED
        by_status.setdefault(status, []).append(str(r.get("item", "?")))
    failed = by_status.get(Outcome.FAILED, [])
    not_fixed = by_status.get(Outcome.NOT_FIXED, []) + by_status.get(Outcome.ESCALATED, [])
    over = len(failed) > state["tolerated"]
    if over or failed:
        outcome = Outcome.FAILED
    elif not_fixed:
        outcome = Outcome.NOT_FIXED
    elif by_status.get(Outcome.FIXED):
        outcome = Outcome.FIXED
    elif results and set(by_status) == {Outcome.NO_ACTION_NEEDED}:
        # Every item was checked and needed nothing (e.g. each serving model kept): no
        # guard refused anything, so the run does not say one did.
        outcome = Outcome.NO_ACTION_NEEDED
    else:
        outcome = Outcome.SKIPPED_BY_GUARD
    parts = [f"{len(v)} {k.lower().replace('_', ' ')}" for k, v in sorted(by_status.items())]
    summary = f"{len(results)} items: " + ", ".join(parts)
    if failed:
        summary += f"; failed: {', '.join(sorted(failed))}"
    # Why each item was not fixed, in its own words (e.g. "improved from 20 % to 9 %").
    why_not = [
        f"{r.get('item', '?')}: {str(r['reason'])[:400]}"
        for r in results
        if r.get("outcome") in (Outcome.NOT_FIXED, Outcome.ESCALATED) and r.get("reason")
    ]
    if why_not:
        summary += "; not fixed: " + "; ".join(why_not)
    if over:
        summary += f"; over the tolerated {state['tolerated']} failures, the rest not attempted"
    # What an item's result says it decided on (e.g. a model evaluation's metrics), so the
    # notification shows the figures, not only the verdict.
    by_item = {str(r.get("item", "?")): r["evaluation"] for r in results if r.get("evaluation")}
    return {
        "total": len(results),
        "byStatus": {k: sorted(v) for k, v in by_status.items()},
        "failed": sorted(failed),
        "tolerated": state["tolerated"],
        "overLimit": over,
        "outcome": outcome,
        "summary": summary,
        "byItem": by_item,
    }
