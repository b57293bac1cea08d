"""Sliding-window budgets kept in the guard-state table: one item per budget holding the
times of the slots taken (JSON) and a version, written with a condition on that version,
so concurrent takers never overrun the cap. Used by the fleet-wide edge restart budget and
by the per-service restart budget (the circuit breaker)."""

from __future__ import annotations

import json
from typing import Any

from botocore.exceptions import ClientError

from .clients import client
from .config import settings


def read(pk: str) -> tuple[list[dict[str, Any]], int]:
    """The slots taken (each `{"at": epoch seconds, ...}`) and the item's version."""
    item = client("dynamodb").get_item(
        TableName=settings().guard_table, Key={"pk": {"S": pk}}, ConsistentRead=True
    )
    if "Item" not in item:
        return [], 0
    raw = item["Item"]
    slots = json.loads(raw.get("times", {}).get("S") or "[]")
    # The edge budget keeps bare times; a service budget keeps one object per slot.
    slots = [s if isinstance(s, dict) else {"at": float(s)} for s in slots]
    return slots, int(raw.get("version", {}).get("S") or 0)


def update_item(pk: str, times: list[Any], version: int) -> dict[str, Any]:
    """The transaction item that replaces the window iff nobody changed it since `version`."""
    return {
        "Update": {
            "TableName": settings().guard_table,
            "Key": {"pk": {"S": pk}},
            "UpdateExpression": "SET #times = :times, #v = :next",
            "ConditionExpression": "attribute_not_exists(#v) OR #v = :v",
            "ExpressionAttributeNames": {"#times": "times", "#v": "version"},
            "ExpressionAttributeValues": {
                ":times": {"S": json.dumps(times)},
                ":v": {"S": str(version)},
                ":next": {"S": str(version + 1)},
            },
        }
    }


def take(
    pk: str, cap: int, window_seconds: float, now: float, slot: dict[str, Any]
) -> tuple[bool, list[dict[str, Any]]]:
    """Take one slot if fewer than `cap` were taken in the last `window_seconds`. Returns
    (taken, the slots in the window before this one). Slots older than the window fall out
    by themselves: the budget resets without anyone resetting it. A slot carrying a `key`
    (an effect's) is taken once: a retried step finds its slot and does not spend another."""
    for _ in range(8):
        slots, version = read(pk)
        recent = [s for s in slots if float(s["at"]) > now - window_seconds]
        if "key" in slot and any(s.get("key") == slot["key"] for s in recent):
            return True, [s for s in recent if s.get("key") != slot["key"]]
        if len(recent) >= cap:
            return False, recent
        try:
            client("dynamodb").transact_write_items(
                TransactItems=[update_item(pk, [*recent, {**slot, "at": now}], version)]
            )
            return True, recent
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "TransactionCanceledException":
                raise
    return False, recent  # lost every race: count it as spent, never overrun


def annotate(pk: str, key: str, fields: dict[str, Any]) -> None:
    """Add what came of a slot (its result) to the slot taken for the effect `key`."""
    for _ in range(8):
        slots, version = read(pk)
        changed = [{**s, **fields} if s.get("key") == key else s for s in slots]
        try:
            client("dynamodb").transact_write_items(
                TransactItems=[update_item(pk, changed, version)]
            )
            return
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "TransactionCanceledException":
                raise
