"""The versions a rollback moved away from (runbook 001 D1), kept in the guard-state table
under `known-bad#<function>`: no later rollback returns to one of them."""

from __future__ import annotations

from ..core.clients import client
from ..core.config import settings


def mark_bad_version(function_name: str, version: str) -> None:
    """Remember a version we rolled away from, so no later rollback returns to it."""
    client("dynamodb").update_item(
        TableName=settings().guard_table,
        Key={"pk": {"S": f"known-bad#{function_name}"}},
        UpdateExpression="ADD versions :v",
        ExpressionAttributeValues={":v": {"SS": [version]}},
    )


def bad_versions(function_name: str) -> frozenset[str]:
    item = (
        client("dynamodb")
        .get_item(
            TableName=settings().guard_table,
            Key={"pk": {"S": f"known-bad#{function_name}"}},
            ConsistentRead=True,
        )
        .get("Item")
    )
    return frozenset(item["versions"]["SS"]) if item else frozenset()
