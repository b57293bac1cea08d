"""Take the scope's freeze lock: freezing twice is one freeze."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError
from selfheal_shared.core import clock
from selfheal_shared.core.clients import client
from selfheal_shared.core.config import settings
from selfheal_shared.core.outcomes import Outcome
from selfheal_shared.core.protocol import Run, remediator
from selfheal_shared.data import ingestion


@remediator(
    ingestion.FreezeIncident,
    actor="freeze_claim",
    automation=ingestion.AUTOMATION,
    what="freeze incident",
)
def handler(run: Run[ingestion.FreezeIncident]) -> dict[str, Any]:
    incident = run.request
    ddb = client("dynamodb")
    key = {"pk": {"S": f"frozen#{incident.scope}"}}
    try:
        ddb.put_item(
            TableName=settings().guard_table,
            Item={
                **key,
                "incidentId": {"S": incident.incidentId},
                "executionId": {"S": incident.executionId},
                "status": {"S": "freezing"},
                "since": {"S": clock.now().isoformat()},
            },
            # A retry of this same execution may re-take its own lock.
            ConditionExpression="attribute_not_exists(pk) OR executionId = :me",
            ExpressionAttributeValues={":me": {"S": incident.executionId}},
        )
    except ClientError as exc:
        if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
            raise
        holder = ddb.get_item(TableName=settings().guard_table, Key=key, ConsistentRead=True)[
            "Item"
        ]
        reason = (
            f"already frozen: scope {incident.scope} is {holder['status']['S']} "
            f"since {holder['since']['S']} by incident {holder['incidentId']['S']}"
        )
        run.record(
            ingestion.AUTOMATION,
            why=reason,
            result="skipped: already frozen",
            outcome=Outcome.SKIPPED_BY_GUARD,
        )
        return {"alreadyFrozen": True, "reason": reason}
    return {"alreadyFrozen": False, "reason": f"scope {incident.scope} lock taken"}
