"""Evaluate the trained candidate against the serving model on the same held-back days
(MAPE, RMSE, accuracy by hour of day) and promote it only when it is better; otherwise
register it Rejected with the reason and keep the serving model."""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import BaseModel, Field
from selfheal_shared import audit, clock, forecast, guards, registry
from selfheal_shared.clients import client
from selfheal_shared.config import settings
from selfheal_shared.handler import remediator
from selfheal_shared.models import parse
from selfheal_shared.observability import logger
from selfheal_shared.outcomes import Outcome

STATUS = {Outcome.FIXED: "OK", Outcome.SKIPPED_BY_GUARD: "SKIPPED", Outcome.NOT_FIXED: "NOT_FIXED"}


class EvaluateRequest(BaseModel):
    systemId: str = Field(min_length=1)
    trigger: Literal["schedule", "alarm", "manual"]
    jobName: str = Field(min_length=1)
    artifact: str = Field(pattern=r"^s3://")
    trainingData: str = Field(pattern=r"^s3://")
    #: The training image; the registered package serves with it.
    image: str = Field(min_length=1)
    incidentId: str = Field(min_length=1)
    executionId: str = Field(min_length=1)


@remediator
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    req = parse(EvaluateRequest, event, "evaluation request")
    logger.set_correlation_id(req.incidentId)
    candidate = registry.load_model(req.artifact)
    bucket, key = registry.split_s3(req.trainingData)
    text = client("s3").get_object(Bucket=bucket, Key=key)["Body"].read().decode()
    part, held = forecast.split_holdout(forecast.parse_series(text))
    cand = forecast.evaluate(candidate, held, part)
    serving = registry.serving(req.systemId)
    current = (
        forecast.evaluate(registry.load_model(registry.model_url(serving)), held, part)
        if serving
        else None
    )
    decision = forecast.decide(cand, current)
    outcome, status_text = Outcome.FIXED, "Approved"
    reason = decision.reason
    if decision.promote:
        gate = guards.evaluate(
            automation=forecast.AUTOMATION,
            resource=req.systemId,
            incident_id=req.incidentId,
            execution_id=req.executionId,
            cooldown_minutes=0,
        )
        if not gate.proceed:
            outcome, status_text = Outcome.SKIPPED_BY_GUARD, "PendingManualApproval"
            reason = f"would promote ({decision.reason}) but {gate.reason}"
    else:
        status_text = "Rejected"
        outcome = Outcome.NOT_FIXED if req.trigger == "alarm" else Outcome.SKIPPED_BY_GUARD
    evaluation: dict[str, Any] = {
        "systemId": req.systemId,
        "trainingJob": req.jobName,
        "heldBackFrom": min(held).isoformat(),
        "heldBackTo": max(held).isoformat(),
        "candidate": cand.to_json(),
        "current": current.to_json() if current else None,
        "currentPackage": serving["ModelPackageArn"] if serving else None,
        "decision": "promote" if status_text == "Approved" else "keep",
        "reason": reason,
    }
    models = settings().bucket("models")
    eval_key = f"evaluations/{req.systemId}/{req.jobName}.json"
    client("s3").put_object(
        Bucket=models,
        Key=eval_key,
        ServerSideEncryption="AES256",
        Body=json.dumps(evaluation, sort_keys=True).encode(),
    )
    metadata = {
        "mape": f"{cand.mape:.4f}",
        "rmse": f"{cand.rmse:.4f}",
        "trainingJob": req.jobName,
        "incidentId": req.incidentId[:256],
        "decision": evaluation["decision"],
    }
    if current:
        metadata |= {"currentMape": f"{current.mape:.4f}", "currentRmse": f"{current.rmse:.4f}"}
    if status_text == "Approved":
        metadata["promotedAt"] = clock.now().isoformat()
    arn = registry.register(
        req.systemId,
        model_data_url=req.artifact,
        image=req.image,
        approve=status_text == "Approved",
        description=reason,
        metadata=metadata,
        metrics_uri=f"s3://{models}/{eval_key}",
    )
    if status_text != "Approved":
        registry.set_status(arn, status_text, reason, {})
    audit.record(
        incident_id=req.incidentId,
        execution=req.executionId,
        action="promote_model" if status_text == "Approved" else "keep_model",
        actor="retrain_evaluate",
        why=reason,
        result=(
            f"{req.systemId}: promoted {registry.group_name(req.systemId)} version "
            f"{arn.rsplit('/', 1)[-1]}"
            if status_text == "Approved"
            else f"{req.systemId}: kept the serving model; candidate {status_text}"
        ),
        outcome=outcome,
        inverse=(
            {
                "api": "sagemaker:UpdateModelPackage",
                "ModelPackageArn": arn,
                "ModelApprovalStatus": "Rejected",
            }
            if status_text == "Approved"
            else {}
        ),
        details=evaluation,
    )
    return {
        "status": STATUS[outcome],
        "item": req.systemId,
        "decision": evaluation["decision"],
        "reason": reason,
        "candidate": {"mape": round(cand.mape, 4), "rmse": round(cand.rmse, 4)},
        "current": (
            {"mape": round(current.mape, 4), "rmse": round(current.rmse, 4)} if current else None
        ),
        "modelPackageArn": arn,
    }
