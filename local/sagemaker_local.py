"""SageMaker training jobs that really train, in front of moto 5.2.

moto records CreateTrainingJob and answers every DescribeTrainingJob with "Completed" at
once, without running anything or writing a model; StopTrainingJob is not implemented.
This stand-in keeps moto's job records and adds what a job does:
- CreateTrainingJob leaves the job `InProgress` for `duration_seconds` of virtual time;
- the first DescribeTrainingJob after that runs the job's entry point in-process
  (`selfheal_shared.ml.forecast_train.train`, the code the training image runs) on the
  job's `train` channel, writes `model.tar.gz` under its S3 output path and sets
  `Completed` with the held-back metrics, or `Failed` with the reason;
- StopTrainingJob stops a job that is still in progress.
Everything else about SageMaker (the model registry) is moto's own.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from unittest import mock

from moto.core.responses import ActionResult
from moto.s3.models import s3_backends
from moto.sagemaker.models import FakeTrainingJob, SageMakerModelBackend
from moto.sagemaker.responses import SageMakerResponse
from selfheal_shared.ml import forecast
from selfheal_shared.ml.forecast_train import train

from .clock import VirtualClock

#: How long a training job runs, in virtual time (a few polls of the workflow's Wait loop).
DEFAULT_DURATION_SECONDS = 900


def _split(url: str) -> tuple[str, str]:
    bucket, _, key = url.removeprefix("s3://").partition("/")
    return bucket, key


@dataclass
class TrainingJobs:
    clock: VirtualClock
    duration_seconds: float = DEFAULT_DURATION_SECONDS
    #: Job name -> virtual time it finishes.
    running: dict[str, datetime] = field(default_factory=dict)
    #: Systems whose next training job fails (a test's way to break one).
    fail_systems: set[str] = field(default_factory=set)
    #: Systems whose next job writes a `model.json` of another model type than its
    #: `backtest.json` (a broken training image): what would serve is not what was scored.
    mismatch_systems: set[str] = field(default_factory=set)
    #: Every job started, in order: (name, hyperparameters).
    started: list[tuple[str, dict[str, str]]] = field(default_factory=list)

    def _finish(self, backend: SageMakerModelBackend, job: FakeTrainingJob) -> None:
        """Run the entry point on the job's channel, as the training container would."""
        s3 = s3_backends[backend.account_id]["global"]
        hp = dict(job.hyper_parameters or {})
        try:
            if hp.get("systemId") in self.fail_systems:
                self.fail_systems.discard(hp["systemId"])
                raise RuntimeError("AlgorithmError: the training container exited with code 1")
            channel = next(c for c in job.input_data_config if c["ChannelName"] == "train")
            bucket, prefix = _split(channel["DataSource"]["S3DataSource"]["S3Uri"])
            keys = sorted(k for k in s3.get_bucket(bucket).keys if k.startswith(prefix))
            if not keys:
                raise RuntimeError(f"ClientError: no data under s3://{bucket}/{prefix}")
            texts = [s3.get_object(bucket, k).value.decode() for k in keys]  # type: ignore[union-attr]
            text = texts[0] + "".join(t.split("\n", 1)[1] for t in texts[1:])
            model, backtest, metrics = train(text, hp)
            if hp.get("systemId") in self.mismatch_systems:
                self.mismatch_systems.discard(hp["systemId"])
                other = "seasonal_naive" if model["modelType"] != "seasonal_naive" else "profile"
                model = {**model, "modelType": other}
        except Exception as exc:  # the job fails with the reason, like SageMaker reports it
            job.training_job_status = "Failed"
            job.secondary_status = "Failed"
            job.failure_reason = str(exc)  # type: ignore[attr-defined]
            return
        out_bucket, out_prefix = _split(job.output_data_config["S3OutputPath"])
        key = f"{out_prefix.rstrip('/')}/{job.training_job_name}/output/model.tar.gz".lstrip("/")
        s3.put_object(out_bucket, key, forecast.pack_model(model, backtest))
        job.model_artifacts = {"S3ModelArtifacts": f"s3://{out_bucket}/{key}"}
        job.training_job_status = "Completed"
        job.secondary_status = "Completed"
        now = self.clock.now()
        job.training_end_time = now
        job.final_metric_data_list = [
            {"MetricName": "holdout:mape", "Value": metrics["mape"], "Timestamp": now},
            {"MetricName": "holdout:rmse", "Value": metrics["rmse"], "Timestamp": now},
        ]

    @contextmanager
    def installed(self) -> Iterator[TrainingJobs]:
        stand_in = self
        original_create = SageMakerModelBackend.create_training_job
        original_describe = SageMakerModelBackend.describe_training_job

        def create(backend: SageMakerModelBackend, *args: Any, **kwargs: Any) -> FakeTrainingJob:
            job = original_create(backend, *args, **kwargs)
            job.training_job_status = "InProgress"
            job.secondary_status = "Training"
            job.failure_reason = None  # type: ignore[attr-defined]
            job.final_metric_data_list = []
            job.model_artifacts = {}
            stand_in.running[job.training_job_name] = stand_in.clock.now() + timedelta(
                seconds=stand_in.duration_seconds
            )
            stand_in.started.append((job.training_job_name, dict(job.hyper_parameters or {})))
            return job

        def describe(backend: SageMakerModelBackend, training_job_name: str) -> dict[str, Any]:
            done_at = stand_in.running.get(training_job_name)
            if done_at is not None and stand_in.clock.now() >= done_at:
                del stand_in.running[training_job_name]
                stand_in._finish(backend, backend.training_jobs[training_job_name])
            return original_describe(backend, training_job_name)

        def stop_training_job(response: SageMakerResponse) -> ActionResult:
            name = response._get_param("TrainingJobName")
            backend = response.sagemaker_backend
            job = backend.training_jobs[name]  # KeyError -> moto's generic error, as AWS 400s
            if stand_in.running.pop(name, None) is not None:
                job.training_job_status = "Stopped"
                job.secondary_status = "Stopped"
            return ActionResult({})

        with (
            mock.patch.object(SageMakerModelBackend, "create_training_job", create),
            mock.patch.object(SageMakerModelBackend, "describe_training_job", describe),
            mock.patch.object(
                SageMakerResponse, "stop_training_job", stop_training_job, create=True
            ),
        ):
            yield self
