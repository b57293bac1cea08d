"""Leases: at most one holder per key at a time (e.g. one training per system), taken with
a conditional write in the guard-state table and released only by their holder. A lease
expires on its own, so a holder that died never blocks the key forever."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from botocore.exceptions import ClientError

from . import clock
from .clients import client
from .config import settings


def _key(name: str) -> dict[str, Any]:
    return {"pk": {"S": f"lease#{name}"}}


def acquire(name: str, holder: str, *, minutes: int) -> tuple[bool, dict[str, Any]]:
    """(taken, the holder's record). Re-acquiring one's own lease renews it."""
    now = clock.now()
    expires = now + timedelta(minutes=minutes)
    try:
        client("dynamodb").put_item(
            TableName=settings().guard_table,
            Item={
                **_key(name),
                "holder": {"S": holder},
                "since": {"S": now.isoformat()},
                "expiresAt": {"N": str(int(expires.timestamp()))},
                "ttl": {"N": str(int(expires.timestamp()) + 86400)},
            },
            ConditionExpression="attribute_not_exists(pk) OR expiresAt <= :now OR holder = :me",
            ExpressionAttributeValues={
                ":now": {"N": str(int(now.timestamp()))},
                ":me": {"S": holder},
            },
        )
        return True, {"holder": holder, "since": now.isoformat()}
    except ClientError as exc:
        if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
            raise
    item = (
        client("dynamodb")
        .get_item(TableName=settings().guard_table, Key=_key(name), ConsistentRead=True)
        .get("Item", {})
    )
    return False, {k: next(iter(v.values())) for k, v in item.items()}


def release(name: str, holder: str) -> bool:
    """Release the lease if `holder` still has it; False when someone else took it over."""
    try:
        client("dynamodb").delete_item(
            TableName=settings().guard_table,
            Key=_key(name),
            ConditionExpression="attribute_not_exists(pk) OR holder = :me",
            ExpressionAttributeValues={":me": {"S": holder}},
        )
        return True
    except ClientError as exc:
        if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
            raise
        return False
