"""Roll back a system's forecast model (runbook 003 B3): the accuracy alarm fired within
the probation window after a promotion, so the newly promoted model is marked Rejected and
the one approved before it serves again; then verify on the last 7 days of actuals."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from botocore.exceptions import ClientError
from pydantic import BaseModel, Field
from selfheal_shared.core import clock
from selfheal_shared.core.clients import client
from selfheal_shared.core.config import settings
from selfheal_shared.core.outcomes import Outcome
from selfheal_shared.core.protocol import Run, remediator
from selfheal_shared.ml import forecast, registry, systems


class RollbackRequest(BaseModel):
    systemId: str = Field(min_length=1)
    reason: str = ""
    incidentId: str = Field(min_length=1)
    executionId: str = Field(min_length=1)


def _claim(incident: str, execution: str) -> bool:
    """One rollback per alarm transition, however often the event is delivered."""
    try:
        client("dynamodb").put_item(
            TableName=settings().guard_table,
            Item={"pk": {"S": f"model-rollback#{incident}"}, "executionId": {"S": execution}},
            ConditionExpression="attribute_not_exists(pk) OR executionId = :me",
            ExpressionAttributeValues={":me": {"S": execution}},
        )
        return True
    except ClientError as exc:
        if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
            raise
        return False


def _result(outcome: Outcome, req: RollbackRequest, why: str, **extra: Any) -> dict[str, Any]:
    return {
        "outcome": outcome,
        "item": req.systemId,
        "decision": "rollback",
        "reason": why,
        **extra,
    }


def _ended(run: Run[RollbackRequest], outcome: Outcome, why: str, result: str) -> dict[str, Any]:
    """Record why the rollback stops here and return that outcome."""
    run.record("rollback_model", why=why, result=result, outcome=outcome)
    return _result(outcome, run.request, why)


@remediator(
    RollbackRequest,
    actor="retrain_rollback",
    automation=forecast.AUTOMATION,
    what="rollback request",
)
def handler(run: Run[RollbackRequest]) -> dict[str, Any]:
    req = run.request
    if not _claim(req.incidentId, req.executionId):
        why = f"duplicate alarm: incident {req.incidentId} was already rolled back"
        return _ended(run, Outcome.SKIPPED_BY_GUARD, why, "skipped: duplicate")
    found = registry.approved(req.systemId)
    if len(found) < 2:
        why = f"{req.systemId} has no earlier approved model to return to"
        return _ended(run, Outcome.NOT_FIXED, why, "nothing to roll back to")
    bad, previous = (registry.describe(f["ModelPackageArn"]) for f in found[:2])
    run.act(
        "reject_model",
        target=req.systemId,
        why=req.reason or "accuracy alarm after a promotion",
        plan=f"mark version {bad['ModelPackageVersion']} Rejected so version "
        f"{previous['ModelPackageVersion']} serves again",
        landed=lambda _key: (
            {}
            if registry.describe(bad["ModelPackageArn"]).get("ModelApprovalStatus") == "Rejected"
            else None
        ),
        do=lambda _key: registry.set_status(
            bad["ModelPackageArn"],
            "Rejected",
            f"rolled back: {req.reason}"[:1000],
            {"rolledBackAt": clock.now().isoformat(), "rolledBackBy": req.incidentId[:256]},
        ),
        verify=lambda _: (
            None
            if (registry.serving(req.systemId) or {}).get("ModelPackageArn")
            == previous["ModelPackageArn"]
            else f"{req.systemId} does not serve version {previous['ModelPackageVersion']}"
        ),
        result=f"{req.systemId}: version {bad['ModelPackageVersion']} Rejected, version "
        f"{previous['ModelPackageVersion']} serves again",
        inverse={
            "api": "sagemaker:UpdateModelPackage",
            "ModelPackageArn": bad["ModelPackageArn"],
            "ModelApprovalStatus": "Approved",
        },
    )
    # Verify on what the demoted model served: the actuals since its promotion (at least a
    # day), both models on the same hours; the rollback fixed it if the restored one is better.
    end = clock.now().replace(minute=0, second=0, microsecond=0)
    promoted = bad.get("CustomerMetadataProperties", {}).get("promotedAt")
    since = (
        min(clock.parse_aws_time(promoted), end - timedelta(days=1))
        if promoted
        else (end - timedelta(days=1))
    )
    actuals = systems.load_series(req.systemId, since - timedelta(days=7), end)
    served = {t: v for t, v in actuals.items() if t >= since}
    restored = demoted = None
    if served:
        restored = forecast.evaluate(
            registry.load_model(registry.model_url(previous)), served, actuals
        )
        demoted = forecast.evaluate(registry.load_model(registry.model_url(bad)), served, actuals)
    ok = restored is not None and demoted is not None and restored.mape < demoted.mape
    why = (
        f"since the promotion ({len(served)} h of actuals): restored version "
        f"{previous['ModelPackageVersion']} MAPE "
        + (
            f"{restored.mape:.2f} % vs rolled-back version {bad['ModelPackageVersion']} "
            f"{demoted.mape:.2f} %"
            if restored and demoted
            else "unknown (no actuals)"
        )
        + ("" if ok else "; the restored model is not better")
    )
    outcome = Outcome.FIXED if ok else Outcome.NOT_FIXED
    run.record(
        "rollback_model",
        why=req.reason or "accuracy alarm after a promotion",
        result=f"{req.systemId}: version {bad['ModelPackageVersion']} Rejected, version "
        f"{previous['ModelPackageVersion']} serves again; {why}",
        outcome=outcome,
        inverse={
            "api": "sagemaker:UpdateModelPackage",
            "ModelPackageArn": bad["ModelPackageArn"],
            "ModelApprovalStatus": "Approved",
        },
    )
    return _result(
        outcome,
        req,
        why,
        restored=previous["ModelPackageArn"],
        rolledBack=bad["ModelPackageArn"],
        restoredMape=round(restored.mape, 4) if restored else None,
    )
