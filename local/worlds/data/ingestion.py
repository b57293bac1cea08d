"""The data domain's world: a data platform's ingestion for a scope (its rules, its
processing workflow with batches RUNNING, its loader functions and their event source
mappings, tagged as selfheal discovers them, next to look-alikes it must leave alone) and
its processed bucket, filled with each source's records over the last 8 days."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

from moto.core.models import DEFAULT_ACCOUNT_ID
from moto.s3.models import s3_backends
from pydantic import BaseModel, ConfigDict, Field

from local.world_api import Pipeline
from local.worlds.deploy import lambda_zip


class IngestionSpec(BaseModel):
    """A data platform's ingestion for one scope, plus look-alikes that must be left alone."""

    model_config = ConfigDict(extra="forbid")

    scope: str
    rules: list[str]
    untaggedRules: list[str] = Field(default_factory=list)
    stateMachine: str
    runningExecutions: int = 1
    untaggedStateMachine: str | None = None
    loaderFunction: str
    untaggedLoaderFunction: str | None = None
    processedBucket: str
    backupBucket: str
    #: Objects per source per 24 h over the last 8 days, evenly spread in time up to now;
    #: `todayFactor` skews the last 24 h; a source in `silentForHours` sent nothing lately.
    objectsPerDay: dict[str, int]
    todayFactor: dict[str, float] = Field(default_factory=dict)
    silentForHours: dict[str, float] = Field(default_factory=dict)


class DataSpec(BaseModel):
    """The data domain's section of a world file."""

    ingestion: list[IngestionSpec] = Field(default_factory=list)


def ingestion_keys(ing: IngestionSpec, now: datetime) -> list[str]:
    """The processed bucket's keys: each source's records evenly spaced back from `now`
    over 8 rolling 24 h windows, in `<source>/<YYYY>/<MM>/<DD>/<HH>/` folders (the time of
    day matters: a source's last 24 h at 02:00 spans two calendar days)."""
    keys = []
    for source, per_day in ing.objectsPerDay.items():
        quiet_since = now - timedelta(hours=ing.silentForHours.get(source, 0))
        for days_ago in range(8):
            count = per_day if days_ago else round(per_day * ing.todayFactor.get(source, 1.0))
            gap = timedelta(days=1) / max(count, 1)
            for n in range(count):
                at = now - timedelta(days=days_ago) - gap * (n + 0.5)
                if at <= quiet_since:
                    keys.append(f"{source}/{at:%Y/%m/%d/%H}/{at:%Y%m%dT%H%M%S}-{n:04d}.json")
    return keys


class DataWorld:
    """The data domain's part of `local.worlds.World`."""

    spec: DataSpec

    def seed_data(self, p: Pipeline) -> None:
        for ing in self.spec.ingestion:
            self.seed_ingestion(p, ing)

    def seed_ingestion(self, p: Pipeline, ing: IngestionSpec) -> None:
        tag = {"selfheal:ingestion": ing.scope, "selfheal:managed": "true"}
        events, sfn, lam, sqs, s3 = (
            p.client(s) for s in ("events", "stepfunctions", "lambda", "sqs", "s3")
        )
        for name in ing.rules + ing.untaggedRules:
            arn = events.put_rule(
                Name=name,
                EventPattern=json.dumps({"source": [f"{ing.scope}.ingest"]}),
                State="ENABLED",
            )["RuleArn"]
            if name in ing.rules:
                events.tag_resource(
                    ResourceARN=arn, Tags=[{"Key": k, "Value": v} for k, v in tag.items()]
                )
        # A processing workflow that stays RUNNING until someone stops it (it waits on a callback).
        queue = sqs.create_queue(QueueName=f"{ing.scope}-work")["QueueUrl"]
        definition = json.dumps(
            {
                "StartAt": "Process",
                "States": {
                    "Process": {
                        "Type": "Task",
                        "Resource": "arn:aws:states:::sqs:sendMessage.waitForTaskToken",
                        "Parameters": {
                            "QueueUrl": queue,
                            "MessageBody": {"token.$": "$$.Task.Token"},
                        },
                        "End": True,
                    }
                },
            }
        )
        for machine, tagged in ((ing.stateMachine, True), (ing.untaggedStateMachine, False)):
            if not machine:
                continue
            arn = sfn.create_state_machine(
                name=machine,
                definition=definition,
                roleArn=p.role_arn,
                tags=[{"key": k, "value": v} for k, v in tag.items()] if tagged else [],
            )["stateMachineArn"]
            for n in range(ing.runningExecutions):
                sfn.start_execution(stateMachineArn=arn, name=f"{machine}-batch-{n}", input="{}")
            # The world stands still before the first event: every batch at its callback.
            if not p.clock.wait_quiet(60):
                raise RuntimeError(f"{machine}'s batches did not reach their callback in 60 s")
        for loader, tagged in ((ing.loaderFunction, True), (ing.untaggedLoaderFunction, False)):
            if not loader:
                continue
            lam.create_function(
                FunctionName=loader,
                Runtime="python3.12",
                Role=p.role_arn,
                Handler="app.handler",
                Code={"ZipFile": lambda_zip(loader)},
                Tags=tag if tagged else {},
            )
            source = sqs.create_queue(QueueName=f"{loader}-in")["QueueUrl"]
            source_arn = sqs.get_queue_attributes(QueueUrl=source, AttributeNames=["QueueArn"])[
                "Attributes"
            ]["QueueArn"]
            lam.create_event_source_mapping(
                EventSourceArn=source_arn, FunctionName=loader, Enabled=True
            )
        for bucket, role in ((ing.processedBucket, "processed"), (ing.backupBucket, "backup")):
            s3.create_bucket(Bucket=bucket)
            s3.put_bucket_tagging(
                Bucket=bucket,
                Tagging={
                    "TagSet": [
                        {"Key": "selfheal:ingestion", "Value": ing.scope},
                        {"Key": "selfheal:ingestion-bucket", "Value": role},
                    ]
                },
            )
        # The records written straight into moto's S3 (the same objects, keys and virtual
        # dates): one PutObject round trip each cost a pipeline ~1.5 s of its start.
        objects = s3_backends[DEFAULT_ACCOUNT_ID]["aws"]
        for key in ingestion_keys(ing, p.clock.now()):
            objects.put_object(ing.processedBucket, key, json.dumps({"key": key}).encode())

    def ingestion_state(self, p: Pipeline, ing: IngestionSpec) -> dict[str, Any]:
        """What is running: rules' states, RUNNING executions, mappings' states, by name."""
        events, sfn, lam = p.client("events"), p.client("stepfunctions"), p.client("lambda")
        machines = {
            m["name"]: m["stateMachineArn"] for m in sfn.list_state_machines()["stateMachines"]
        }
        return {
            "rules": {
                n: events.describe_rule(Name=n)["State"] for n in ing.rules + ing.untaggedRules
            },
            "running": {
                n: len(
                    sfn.list_executions(stateMachineArn=machines[n], statusFilter="RUNNING")[
                        "executions"
                    ]
                )
                for n in (ing.stateMachine, ing.untaggedStateMachine)
                if n
            },
            "mappings": {
                n: lam.list_event_source_mappings(FunctionName=n)["EventSourceMappings"][0]["State"]
                for n in (ing.loaderFunction, ing.untaggedLoaderFunction)
                if n
            },
        }
