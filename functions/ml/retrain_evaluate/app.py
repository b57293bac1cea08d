"""Evaluate the trained candidate against the serving model on the runbook's backtest, the
last 30 days of the window (MAPE, RMSE, accuracy by hour of day), and promote it only when
it is better by `promotion.RULE` (no metric worse, one better: the runbook names no rule, so
any regression keeps the serving model); otherwise register it Rejected with the reason and
say NO_ACTION_NEEDED (the serving model is kept; no guard refused anything), or NOT_FIXED
when an accuracy alarm asked for the retraining. Both models are scored out of sample on
the same 30 days (`backtest` says how and why); the record names the model scored and the
one that serves. A promoted model still above 8 % is NOT_FIXED: it improved, the accuracy
is still degraded."""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import BaseModel, Field
from selfheal_shared.core import clock
from selfheal_shared.core.clients import client
from selfheal_shared.core.config import settings
from selfheal_shared.core.errors import ActionFailed
from selfheal_shared.core.outcomes import Outcome
from selfheal_shared.core.protocol import Run, remediator
from selfheal_shared.ml import backtest, forecast, promotion, registry, systems


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
    # What the job backtested: the candidate fitted before the last 30 days, scored on them;
    # and what would serve: the same model type refit on the whole window (never scored).
    candidate = registry.load_model(req.artifact, forecast.BACKTEST_MEMBER)
    served = registry.load_model(req.artifact)
    bucket, key = registry.split_s3(req.trainingData)
    text = client("s3").get_object(Bucket=bucket, Key=key)["Body"].read().decode()
    part, held = forecast.split_holdout(forecast.parse_series(text), forecast.BACKTEST_DAYS)
    cut = min(held)
    problem = backtest.refit_problem(served, candidate, cut)
    if problem:
        raise ActionFailed(
            f"{req.jobName}: what would serve is not the backtested model refit on the whole "
            f"window ({problem}); nothing promoted"
        )
    cand = forecast.evaluate(candidate, held, part)
    serving = registry.serving(req.systemId)
    current: forecast.Metrics | None = None
    current_model: dict[str, Any] | None = None
    if serving:
        serves = registry.load_model(registry.model_url(serving))
        try:
            scored, refit = backtest.out_of_sample(
                serves, cut, lambda a, b: systems.load_series(req.systemId, a, b)
            )
        except ValueError as exc:
            raise ActionFailed(f"{req.systemId}: {exc}; nothing promoted") from exc
        current = forecast.evaluate(scored, held, part)
        current_model = {
            "serves": backtest.describe(serves, forecast.MODEL_MEMBER),
            "scored": backtest.describe(
                scored,
                f"{forecast.MODEL_MEMBER} refit before the backtest"
                if refit
                else forecast.MODEL_MEMBER,
            ),
            "refit": refit,
        }
    candidate_model = {
        "scored": backtest.describe(candidate, forecast.BACKTEST_MEMBER),
        "serves": backtest.describe(served, forecast.MODEL_MEMBER),
        "note": f"{forecast.MODEL_MEMBER} (what serves if promoted) is the same model type refit "
        f"on the whole window, so it has seen the {forecast.BACKTEST_DAYS} days and is not "
        f"scored on them; the metrics are those of {forecast.BACKTEST_MEMBER}",
    }
    decision = promotion.decide(cand, current)
    outcome, status_text = Outcome.FIXED, "Approved"
    reason = decision.reason
    degraded = forecast.still_degraded(cand, current) if decision.promote else None
    if degraded:
        outcome, reason = Outcome.NOT_FIXED, f"{decision.reason}; {degraded}"
    if not decision.promote:
        status_text = "Rejected"
        # Kept by the evaluation, not refused by a guard: nothing changes and nothing needed
        # to, unless an accuracy alarm asked for a better model, which this is not.
        outcome = Outcome.NOT_FIXED if req.trigger == "alarm" else Outcome.NO_ACTION_NEEDED
    evaluation: dict[str, Any] = {
        "systemId": req.systemId,
        "trainingJob": req.jobName,
        "backtestDays": forecast.BACKTEST_DAYS,
        "heldBackFrom": min(held).isoformat(),
        "heldBackTo": max(held).isoformat(),
        "candidate": cand.to_json(),
        "candidateModel": candidate_model,
        "current": current.to_json() if current else None,
        "currentModel": current_model,
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
        # The backtest model's figures, named as such: the package serves model.json.
        "scoredModel": backtest.short(candidate, forecast.BACKTEST_MEMBER)[:256],
        "servedModel": backtest.short(served, forecast.MODEL_MEMBER)[:256],
        "scoredMape": f"{cand.mape:.4f}",
        "scoredRmse": f"{cand.rmse:.4f}",
        "scoredLowestAccuracyByHour": f"{min(cand.accuracyByHour.values(), default=0):.2f}",
        "trainingJob": req.jobName,
        "incidentId": req.incidentId[:256],
        "decision": evaluation["decision"],
    }
    if current and current_model:
        scored_current = current_model["scored"]
        metadata |= {
            "currentScoredModel": (
                f"{scored_current['member']} fitted {scored_current['trainedFrom']} to "
                f"{scored_current['trainedTo']}"
            )[:256],
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
                f"version {a.rsplit('/', 1)[-1]}, serving {forecast.MODEL_MEMBER} fitted on "
                f"{served.trainedFrom} to {served.trainedTo} (backtest of "
                f"{forecast.BACKTEST_MEMBER}, fitted to {candidate.trainedTo}: {metrics_line}"
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
