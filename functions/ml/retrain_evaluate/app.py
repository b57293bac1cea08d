"""Evaluate the trained candidate against the serving model on the runbook's backtest, the
last 30 days of the window (MAPE, RMSE, accuracy by hour of day), and promote it only when
it is better by `promotion.RULE` (no metric worse, one better: the runbook names no rule, so
any regression keeps the serving model); otherwise register it Rejected with the reason.
A promoted model still above 8 % is NOT_FIXED: it improved, the accuracy is still degraded."""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import BaseModel, Field
from selfheal_shared.core import clock
from selfheal_shared.core.clients import client
from selfheal_shared.core.config import settings
from selfheal_shared.core.outcomes import Outcome
from selfheal_shared.core.protocol import Run, remediator
from selfheal_shared.ml import forecast, promotion, registry


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


@remediator(
    EvaluateRequest,
    actor="retrain_evaluate",
    automation=forecast.AUTOMATION,
    what="evaluation request",
)
def handler(run: Run[EvaluateRequest]) -> dict[str, Any]:
    req = run.request
    # What the job backtested: the candidate fitted before the last 30 days, scored on them.
    candidate = registry.load_model(req.artifact, forecast.BACKTEST_MEMBER)
    bucket, key = registry.split_s3(req.trainingData)
    text = client("s3").get_object(Bucket=bucket, Key=key)["Body"].read().decode()
    part, held = forecast.split_holdout(forecast.parse_series(text), forecast.BACKTEST_DAYS)
    cand = forecast.evaluate(candidate, held, part)
    serving = registry.serving(req.systemId)
    current = (
        forecast.evaluate(registry.load_model(registry.model_url(serving)), held, part)
        if serving
        else None
    )
    decision = promotion.decide(cand, current)
    outcome, status_text = Outcome.FIXED, "Approved"
    reason = decision.reason
    degraded = forecast.still_degraded(cand, current) if decision.promote else None
    if degraded:
        outcome, reason = Outcome.NOT_FIXED, f"{decision.reason}; {degraded}"
    if not decision.promote:
        status_text = "Rejected"
        outcome = Outcome.NOT_FIXED if req.trigger == "alarm" else Outcome.SKIPPED_BY_GUARD
    evaluation: dict[str, Any] = {
        "systemId": req.systemId,
        "trainingJob": req.jobName,
        "backtestDays": forecast.BACKTEST_DAYS,
        "heldBackFrom": min(held).isoformat(),
        "heldBackTo": max(held).isoformat(),
        "candidate": cand.to_json(),
        "current": current.to_json() if current else None,
        "currentPackage": serving["ModelPackageArn"] if serving else None,
        "comparison": decision.comparison,
        "decision": "promote" if status_text == "Approved" else "keep",
        "reason": reason,
    }
    # What the record and the notification show: the three metrics of both models.
    metrics_line = (
        promotion.describe(promotion.compare(cand, current))
        if current
        else f"MAPE {cand.mape:.2f} %, RMSE {cand.rmse:.2f} kW, accuracy by hour of day "
        f"{promotion.span(cand.to_json()['accuracyByHour'])}; no current model"
    )
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
        "lowestAccuracyByHour": f"{min(cand.accuracyByHour.values(), default=0):.2f}",
        "trainingJob": req.jobName,
        "incidentId": req.incidentId[:256],
        "decision": evaluation["decision"],
    }
    if current:
        metadata |= {
            "currentMape": f"{current.mape:.4f}",
            "currentRmse": f"{current.rmse:.4f}",
            "currentLowestAccuracyByHour": (
                f"{min(current.accuracyByHour.values(), default=0):.2f}"
            ),
        }
    if status_text == "Approved":
        metadata["promotedAt"] = clock.now().isoformat()

    def register(approve: bool, key: str) -> str:
        return registry.register(
            req.systemId,
            model_data_url=req.artifact,
            image=req.image,
            approve=approve,
            description=reason,
            metadata=metadata,
            metrics_uri=f"s3://{models}/{eval_key}",
            key=key,
        )

    if status_text == "Approved":
        arn = run.act(
            "promote_model",
            target=req.systemId,
            why=reason,
            plan=f"register and approve the candidate of {req.jobName} for {req.systemId}",
            do=lambda key: register(True, key),
            landed=lambda key: registry.registered_under(req.systemId, key),
            verify=lambda a: (
                None
                if (registry.serving(req.systemId) or {}).get("ModelPackageArn") == a
                else "the registry does not serve the promoted version"
            ),
            result=lambda a: (
                f"{req.systemId}: promoted {registry.group_name(req.systemId)} "
                f"version {a.rsplit('/', 1)[-1]} (backtest {metrics_line}"
                + (f"; MAPE still above {forecast.MAPE_ALARM_PERCENT:g} %)" if degraded else ")")
            ),
            inverse=lambda a: {
                "api": "sagemaker:UpdateModelPackage",
                "ModelPackageArn": a,
                "ModelApprovalStatus": "Rejected",
            },
            details=lambda _: evaluation,
            outcome=outcome,
        )
    else:
        # A rejected candidate is registered for the record; the serving model is untouched.
        arn = register(False, run.effect_key("register_candidate", req.systemId))
        registry.set_status(arn, status_text, reason, {})
        run.record(
            "keep_model",
            why=reason,
            result=f"{req.systemId}: kept the serving model; candidate {status_text} "
            f"(backtest {metrics_line})",
            outcome=outcome,
            details=evaluation,
        )
    return {
        "outcome": outcome,
        "item": req.systemId,
        "decision": evaluation["decision"],
        "reason": reason,
        # The figures the notification shows (the rule itself is in the stored evaluation).
        "evaluation": {
            **{k: evaluation[k] for k in ("candidate", "current", "decision")},
            "verdicts": {k: v for k, v in (decision.comparison or {}).items() if k != "rule"},
        },
        "modelPackageArn": arn,
    }
