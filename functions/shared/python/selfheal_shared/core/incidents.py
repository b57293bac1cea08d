"""One execution per incident: the key a trigger's duplicate deliveries share, and the
claim the first state of every workflow takes on it.

EventBridge delivers at least once, CloudWatch may emit one transition more than once, and
EventBridge Scheduler may fire a schedule twice. Step Functions execution names would
deduplicate, but EventBridge and Scheduler targets cannot set them, so the claim is a
conditional write in the first state; a duplicate ends there (Claim → IsDuplicate →
Duplicate: three transitions), counted on the claim and visible in the execution history.
"""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta
from typing import Any

from botocore.exceptions import ClientError

from . import clock
from .clients import client
from .config import settings

#: Longer than the rules' maximum event age (1 h) and Scheduler's retry window.
CLAIM_HOURS = 24


def _digest(*parts: Any) -> str:
    text = json.dumps(parts, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def incident_key(payload: Any) -> str | None:
    """The key duplicates of one trigger share; None for a manual start (each one is its
    own request, and AWS itself deduplicates a console retry by execution name).
    Never raises: a malformed payload is refused by the workflow's next state."""
    if not isinstance(payload, dict):
        return None
    detail = payload.get("detail")
    if isinstance(detail, dict) and isinstance(payload.get("detail-type"), str):
        state = detail.get("state")
        if payload["detail-type"] == "CloudWatch Alarm State Change" and isinstance(state, dict):
            # One alarm transition: the same name, state and state timestamp.
            return _digest(detail.get("alarmName"), state.get("value"), state.get("timestamp"))
        return _digest(payload.get("source"), payload["detail-type"], detail)
    scheduled = payload.get("scheduledTime")
    if payload.get("trigger") == "schedule" and isinstance(scheduled, str):
        return _digest("schedule", scheduled)
    return None


def claim(automation: str, key: str, execution_id: str) -> dict[str, Any]:
    """Take the incident for this execution; a retry of our own claim keeps it. Returns
    `{"duplicate": False}` or, for another execution's incident, that execution and the
    number of duplicates seen so far."""
    table = settings().guard_table
    pk = {"pk": {"S": f"claim#{automation}#{key}"}}
    now = clock.now()
    ddb = client("dynamodb")
    try:
        ddb.put_item(
            TableName=table,
            Item={
                **pk,
                "executionId": {"S": execution_id},
                "claimedAt": {"S": now.isoformat()},
                "ttl": {"N": str(int((now + timedelta(hours=CLAIM_HOURS)).timestamp()))},
            },
            ConditionExpression="attribute_not_exists(pk) OR executionId = :me",
            ExpressionAttributeValues={":me": {"S": execution_id}},
        )
        return {"duplicate": False, "key": key}
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
            raise
    counted = ddb.update_item(
        TableName=table,
        Key=pk,
        UpdateExpression="ADD duplicates :one SET lastDuplicateAt = :now",
        ExpressionAttributeValues={":one": {"N": "1"}, ":now": {"S": now.isoformat()}},
        ReturnValues="ALL_NEW",
    )["Attributes"]
    return {
        "duplicate": True,
        "key": key,
        "of": counted["executionId"]["S"],
        "duplicates": int(counted["duplicates"]["N"]),
    }
