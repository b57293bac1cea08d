"""Human gates: a workflow parks its task token here, an operator answers.

The token is stored in the guard-state table under `gate#<incident>`; `decide`
is what `selfheal approve` / `selfheal reject` call, and is equivalent to the AWS
CLI `aws stepfunctions send-task-success --task-token ... --task-output ...`.
"""

from __future__ import annotations

import json
from typing import Any

from botocore.exceptions import ClientError

from . import clock
from .clients import client
from .config import settings
from .ingestion import Decision
from .models import parse


def park(incident_id: str, token: str, details: dict[str, Any]) -> None:
    client("dynamodb").put_item(
        TableName=settings().guard_table,
        Item={
            "pk": {"S": f"gate#{incident_id}"},
            "token": {"S": token},
            "details": {"S": json.dumps(details, default=str)},
            "parkedAt": {"S": clock.now().isoformat()},
        },
    )


def pending() -> list[dict[str, Any]]:
    """Gates still waiting for an answer (a scan: there are only ever a handful)."""
    items = client("dynamodb").scan(
        TableName=settings().guard_table,
        FilterExpression="begins_with(pk, :g) AND attribute_not_exists(decidedAt)",
        ExpressionAttributeValues={":g": {"S": "gate#"}},
    )["Items"]
    return [
        {
            "incidentId": i["pk"]["S"].removeprefix("gate#"),
            "parkedAt": i["parkedAt"]["S"],
            "details": json.loads(i["details"]["S"]),
        }
        for i in items
    ]


def decide(
    incident_id: str,
    decision: str,
    operator: str,
    reason: str = "",
    acknowledge: list[str] | None = None,
) -> dict[str, Any]:
    """Answer a gate. Refuses a second answer, an answer nobody asked for, and a malformed
    one (InputInvalid naming the field; the workflow checks again whatever it receives)."""
    answer = parse(
        Decision,
        {
            "decision": decision,
            "operator": operator,
            "reason": reason,
            "acknowledge": list(acknowledge or []),
        },
        "gate answer",
    )
    ddb = client("dynamodb")
    item = ddb.get_item(
        TableName=settings().guard_table,
        Key={"pk": {"S": f"gate#{incident_id}"}},
        ConsistentRead=True,
    ).get("Item")
    if not item:
        raise LookupError(f"no gate is waiting for incident {incident_id!r}")
    if "decidedAt" in item:
        raise LookupError(f"incident {incident_id!r} was already decided: {item['decision']['S']}")
    token = item["token"]["S"]
    client("stepfunctions").send_task_success(taskToken=token, output=answer.model_dump_json())
    try:
        ddb.update_item(
            TableName=settings().guard_table,
            Key={"pk": {"S": f"gate#{incident_id}"}},
            UpdateExpression="SET decidedAt = :t, decision = :d, #op = :o",
            # Only the gate answered: a rejected answer re-parks a new token at once.
            ConditionExpression="#tk = :tk",
            ExpressionAttributeNames={"#op": "operator", "#tk": "token"},
            ExpressionAttributeValues={
                ":t": {"S": clock.now().isoformat()},
                ":d": {"S": answer.decision},
                ":o": {"S": answer.operator},
                ":tk": {"S": token},
            },
        )
    except ClientError as exc:
        if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
            raise
    return answer.model_dump()
