"""Poll the training job once (the workflow's Wait loop calls this, a bounded number of
times); on the last poll a job still running is stopped rather than waited for forever."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field
from selfheal_shared.core.clients import client
from selfheal_shared.core.protocol import Run, remediator
from selfheal_shared.ml import forecast


class Job(BaseModel, extra="allow"):
    """What retrain_start returned, carried through the loop (extra fields kept)."""

    jobName: str = Field(min_length=1)
    polls: int = Field(ge=0)


class PollRequest(BaseModel):
    job: Job
    maxPolls: int = Field(ge=1, le=100)
    incidentId: str = Field(min_length=1)
    executionId: str = Field(min_length=1)


@remediator(PollRequest, actor="retrain_poll", automation=forecast.AUTOMATION, what="training poll")
def handler(run: Run[PollRequest]) -> dict[str, Any]:
    req = run.request
    sm = client("sagemaker")
    name = req.job.jobName
    job = sm.describe_training_job(TrainingJobName=name)
    status = job["TrainingJobStatus"]  # InProgress | Completed | Failed | Stopping | Stopped
    polls = req.job.polls + 1
    if status in ("InProgress", "Stopping") and polls >= req.maxPolls:
        run.act(
            "stop_training",
            target=name,
            why=f"training job still {status} after {polls} polls",
            plan=f"stop {name}",
            do=lambda _key: sm.stop_training_job(TrainingJobName=name),
            landed=lambda _key: (
                {}
                if sm.describe_training_job(TrainingJobName=name)["TrainingJobStatus"]
                in ("Stopping", "Stopped")
                else None
            ),
            result=f"stopped {name}",
            inverse={"note": "none: start a new training run"},
        )
        status = "TimedOut"
    return {
        **req.job.model_dump(),
        "status": status,
        "secondaryStatus": job.get("SecondaryStatus", ""),
        "failureReason": job.get("FailureReason", ""),
        "artifact": job.get("ModelArtifacts", {}).get("S3ModelArtifacts", ""),
        "image": job.get("AlgorithmSpecification", {}).get("TrainingImage", ""),
        "finalMetrics": {m["MetricName"]: m["Value"] for m in job.get("FinalMetricDataList", [])},
        "polls": polls,
    }
