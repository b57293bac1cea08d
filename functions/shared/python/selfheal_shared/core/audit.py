"""Append-only audit trail: who did what, why, with what result, and how to undo it.

Records are written with a conditional put so nothing is ever overwritten; the
remediators' IAM roles are granted PutItem only (no Update/Delete).
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from botocore.exceptions import ClientError

from . import clock
from .clients import client
from .config import settings


def record(
    *,
    incident_id: str,
    execution: str,
    action: str,
    actor: str,
    why: str,
    result: str,
    outcome: str | None = None,
    inverse: dict[str, Any] | None = None,
    details: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Write one record; the conditional put means an existing record is never replaced."""
    at = clock.now().isoformat(timespec="microseconds")
    # The counter keeps records of one instant in the order they were written.
    # Time, then process order, then a random part: two writers never share a key.
    seq = f"{at}#{clock.sequence():08d}#{action}#{uuid.uuid4().hex[:8]}"
    item: dict[str, Any] = {
        "incidentId": {"S": incident_id},
        "seq": {"S": seq},
        "at": {"S": at},
        "action": {"S": action},
        "execution": {"S": execution},
        "actor": {"S": actor},
        "why": {"S": why},
        "result": {"S": result},
        "details": {"S": json.dumps(details or {}, sort_keys=True, default=str)},
        "inverse": {"S": json.dumps(inverse or {}, sort_keys=True, default=str)},
    }
    if outcome is not None:
        item["outcome"] = {"S": outcome}
    # The condition can only fail if a record already has this key: then we must not
    # replace it. The key holds a random part, so the one record it can find is our own,
    # written by a first attempt whose response was lost and which botocore retried:
    # that write landed, and counts as written. Anything else surfaces (never a silent loss).
    ddb = client("dynamodb")
    try:
        ddb.put_item(
            TableName=settings().audit_table,
            Item=item,
            ConditionExpression="attribute_not_exists(incidentId) AND attribute_not_exists(seq)",
        )
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
            raise
        # Query, not GetItem: the audit trail grants PutItem and Query only.
        found = ddb.query(
            TableName=settings().audit_table,
            KeyConditionExpression="incidentId = :i AND seq = :s",
            ExpressionAttributeValues={":i": item["incidentId"], ":s": item["seq"]},
            ConsistentRead=True,
        ).get("Items", [])
        if found != [item]:
            raise
    return {k: next(iter(v.values())) for k, v in item.items()}


def history(incident_id: str) -> list[dict[str, Any]]:
    """All records of one incident, oldest first."""
    pages = (
        client("dynamodb")
        .get_paginator("query")
        .paginate(
            TableName=settings().audit_table,
            KeyConditionExpression="incidentId = :i",
            ExpressionAttributeValues={":i": {"S": incident_id}},
        )
    )
    out = []
    for page in pages:
        for item in page["Items"]:
            row = {k: next(iter(v.values())) for k, v in item.items()}
            row["details"] = json.loads(row.get("details", "{}"))
            row["inverse"] = json.loads(row.get("inverse", "{}"))
            out.append(row)
    return out
