"""Human gates: a workflow parks its task token here, an operator answers.

The token is stored in the guard-state table under `gate#<incident>`; `decide`
is what `selfheal approve` / `selfheal reject` call, and is equivalent to the AWS
CLI `aws stepfunctions send-task-success --task-token ... --task-output ...`.
"""

from __future__ import annotations

import json
from typing import Any, Literal

from botocore.exceptions import ClientError
from pydantic import ConfigDict, Field

from . import clock
from .basemodel import Model
from .clients import client
from .config import settings
from .models import parse

#: A gate whose `details.answer` is this takes `{"confirmedSafe", "operator", "cause"}`
#: (runbook 000 §5c) instead of the freeze's decision body; `approve` then means "confirmed
#: safe, and the cause shown (`details.cause`) is the cause".
CONFIRMED_SAFE = "confirmedSafe"


class Decision(Model):
    """The operator's answer at a human gate (what `decide` takes; the freeze's gate checks
    it again, `data.ingestion.unacknowledged`). `reason` is required either way (it goes
    into the record and the page); `acknowledge` names the sources the integrity check
    flagged that the operator checked: a resume over an integrity failure needs all of them,
    so an answer given without reading the report (an auto-answer) never resumes."""

    model_config = ConfigDict(extra="forbid", strict=True)

    decision: Literal["resume", "keep_frozen"]
    operator: str = Field(min_length=1, max_length=128)
    reason: str = Field(min_length=3, max_length=500)
    acknowledge: list[str] = Field(default_factory=list, max_length=100)


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
    output = answer.model_dump_json()
    details = json.loads(item["details"]["S"])
    if details.get("answer") == CONFIRMED_SAFE:
        # The E-Stop gate asks for the runbook's own body: approving says it is safe and
        # confirms the cause the gate showed (`selfheal gates`); the reason is recorded.
        output = json.dumps(
            {
                "confirmedSafe": answer.decision == "resume",
                "operator": answer.operator,
                "cause": str(details.get("cause") or ""),
                "reason": answer.reason,
            }
        )
    try:
        client("stepfunctions").send_task_success(taskToken=token, output=output)
    except ClientError as exc:
        code = exc.response["Error"]["Code"]
        if code not in ("InvalidToken", "TaskTimedOut", "TaskDoesNotExist"):
            raise
        # Answered another way (the AWS CLI, the console) or timed out: the gate is closed.
        close(incident_id, token)
        raise LookupError(
            f"the gate of incident {incident_id!r} no longer waits: it was already answered "
            f"(e.g. with the AWS CLI) or timed out ({code}); see `selfheal gates`"
        ) from None
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


def close(incident_id: str, token: str | None = None, decision: str = "answered") -> None:
    """Mark a gate answered when the answer came some other way than `decide` (the AWS CLI's
    send-task-success, the console): `selfheal gates` lists it no more. With `token`, only
    that parking of the gate; a gate already marked keeps its first answer."""
    condition = "attribute_exists(pk) AND attribute_not_exists(decidedAt)"
    values: dict[str, Any] = {":t": {"S": clock.now().isoformat()}, ":d": {"S": decision}}
    if token is not None:
        condition += " AND #tk = :tk"
        values[":tk"] = {"S": token}
    try:
        client("dynamodb").update_item(
            TableName=settings().guard_table,
            Key={"pk": {"S": f"gate#{incident_id}"}},
            UpdateExpression="SET decidedAt = :t, decision = :d",
            ConditionExpression=condition,
            ExpressionAttributeValues=values,
            **({"ExpressionAttributeNames": {"#tk": "token"}} if token is not None else {}),
        )
    except ClientError as exc:
        if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
            raise
