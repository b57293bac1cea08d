"""Start the SageMaker training job for one system: export the window's hourly load as the
job's `train` channel, then CreateTrainingJob with the forecasting image."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from botocore.exceptions import ClientError
from pydantic import BaseModel, Field
from selfheal_shared.core import clock, config, datalake
from selfheal_shared.core.clients import client
from selfheal_shared.core.config import settings
from selfheal_shared.core.errors import ActionFailed, InputInvalid
from selfheal_shared.core.protocol import Run, remediator
from selfheal_shared.ml import forecast, systems
from selfheal_shared.ml.forecast_train import METRIC_REGEX

INSTANCE_TYPE = "ml.m5.large"
MAX_RUNTIME_SECONDS = 3000


class StartRequest(BaseModel):
    systemId: str = Field(pattern=datalake.ID_PATTERN)
    modelType: str
    #: The 30-day backtest and at least a week before it to fit.
    trainingWindowDays: int = Field(ge=forecast.BACKTEST_DAYS + forecast.MIN_FIT_DAYS, le=365)
    timezone: str
    incidentId: str = Field(min_length=1)
    executionId: str = Field(min_length=1)


def job_name(system: str, at: Any) -> str:
    """`fc-<system>-<UTC time>`, within SageMaker's 63 characters and alphabet."""
    base = re.sub(r"[^A-Za-z0-9-]", "-", f"fc-{system}")[:44].strip("-")
    return f"{base}-{at:%Y%m%d%H%M%S}"


def _started(name: str) -> dict[str, Any] | None:
    """The training job's name is its natural id: SageMaker refuses a second job by it."""
    try:
        client("sagemaker").describe_training_job(TrainingJobName=name)
    except ClientError as exc:
        if exc.response["Error"]["Code"] not in ("ValidationException", "ResourceNotFound"):
            raise
        return None
    return {"TrainingJobName": name}


@remediator(
    StartRequest, actor="retrain_start", automation=forecast.AUTOMATION, what="training request"
)
def handler(run: Run[StartRequest]) -> dict[str, Any]:
    req = run.request
    image = config.env("SELFHEAL_TRAINING_IMAGE", "")
    role = config.env("SELFHEAL_TRAINING_ROLE_ARN", "")
    if not image or not role:
        raise ActionFailed(
            "no training image/role configured (deploy with -c selfheal:trainingImage=<ECR URI>)"
        )
    now = clock.now()
    end = now.replace(minute=0, second=0, microsecond=0)
    start = end - timedelta(days=req.trainingWindowDays)
    series = systems.load_series(req.systemId, start, end)
    # The backtest's 30 days and a week to fit before them; a few missing hours are
    # normal (ingestion gaps, the current hour not landed yet) and are tolerated.
    needed = int((forecast.BACKTEST_DAYS + forecast.MIN_FIT_DAYS) * 24 * 0.95)
    if len(series) < needed:
        raise InputInvalid(
            f"trainingWindowDays: only {len(series)} hours of load for {req.systemId} in the "
            f"last {req.trainingWindowDays} days; need at least {needed}"
        )
    name = job_name(req.systemId, now)
    models = settings().bucket("models")
    channel = f"training/{req.systemId}/{name}/"
    client("s3").put_object(
        Bucket=models,
        Key=channel + "train.csv",
        Body=forecast.series_csv(series).encode(),
        ServerSideEncryption="AES256",
    )
    job = dict(
        TrainingJobName=name,
        AlgorithmSpecification={
            "TrainingImage": image,
            "TrainingInputMode": "File",
            "MetricDefinitions": [{"Name": k, "Regex": v} for k, v in METRIC_REGEX.items()],
        },
        HyperParameters={
            "modelType": req.modelType,
            "holdoutDays": str(forecast.HOLDOUT_DAYS),
            "timezone": req.timezone,
            "systemId": req.systemId,
        },
        RoleArn=role,
        InputDataConfig=[
            {
                "ChannelName": "train",
                "ContentType": "text/csv",
                "DataSource": {
                    "S3DataSource": {
                        "S3DataType": "S3Prefix",
                        "S3Uri": f"s3://{models}/{channel}",
                        "S3DataDistributionType": "FullyReplicated",
                    }
                },
            }
        ],
        OutputDataConfig={"S3OutputPath": f"s3://{models}/artifacts/{req.systemId}/"},
        ResourceConfig={"InstanceType": INSTANCE_TYPE, "InstanceCount": 1, "VolumeSizeInGB": 10},
        StoppingCondition={"MaxRuntimeInSeconds": MAX_RUNTIME_SECONDS},
        Tags=[
            {"Key": "selfheal:system", "Value": req.systemId},
            {"Key": "selfheal:incident", "Value": req.incidentId[:256]},
        ],
    )
    run.act(
        "start_training",
        target=req.systemId,
        why=f"retrain {req.systemId} ({req.modelType}) on {req.trainingWindowDays} days",
        plan=f"start training job {name}",
        do=lambda _key: client("sagemaker").create_training_job(**job),
        landed=lambda _key: _started(name),
        result=f"training job {name} started on {len(series)} hours "
        f"({start.isoformat()} to {end.isoformat()})",
        inverse={"api": "sagemaker:StopTrainingJob", "TrainingJobName": name},
    )
    return {
        "jobName": name,
        "trainingData": f"s3://{models}/{channel}train.csv",
        "windowStart": start.isoformat(),
        "windowEnd": end.isoformat(),
        "hours": len(series),
        "polls": 0,
    }
