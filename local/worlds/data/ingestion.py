"""The data domain's world: a data platform's ingestion for a scope (its rules, its
processing workflow with batches RUNNING, its loader functions and their event source
mappings, tagged as selfheal discovers them, next to look-alikes it must leave alone), its
processed bucket, filled with each source's objects over the last 8 days, and its
time-series store (a real InfluxDB, `local/influx.py`) holding the same records as points
at the virtual clock's times, registered as selfheal reads it (Parameter Store, and its
read-only credentials in Secrets Manager)."""

from __future__ import annotations

import itertools
import json
from datetime import UTC, datetime, timedelta
from typing import Any

from moto.core.models import DEFAULT_ACCOUNT_ID
from moto.s3.models import s3_backends
from pydantic import BaseModel, ConfigDict, Field
from selfheal_shared.data import records

from local.world_api import Pipeline, shared_influx
from local.worlds.data.influx_instance import InfluxInstanceSpec, InfluxInstanceWorld
from local.worlds.deploy import lambda_zip


class TimeSeriesSpec(BaseModel):
    """The scope's time-series store: a record is a point of `measurement` with `field`,
    tagged with its source."""

    model_config = ConfigDict(extra="forbid")

    database: str = "energy_data"
    measurement: str = "energy"
    field: str = "value"
    sourceTag: str = "source"
    #: Records of the last 24 h in the store against the bucket's objects (a loader that
    #: dropped or doubled records): 0.2 is a fifth of them.
    todayFactor: dict[str, float] = Field(default_factory=dict)


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
    #: None: no store registered (the integrity check cannot count records).
    timeSeries: TimeSeriesSpec | None = None


class DataSpec(BaseModel):
    """The data domain's section of a world file."""

    ingestion: list[IngestionSpec] = Field(default_factory=list)
    #: Timestream for InfluxDB instances (runbook 001 D4), with their write latency.
    influxInstances: list[InfluxInstanceSpec] = Field(default_factory=list)


def ingestion_times(
    ing: IngestionSpec, now: datetime, today: dict[str, float] | None = None
) -> list[tuple[str, int, datetime]]:
    """Each source's records evenly spaced back from `now` over 8 rolling 24 h windows, as
    (source, n, time); `today` scales the last 24 h further (the store's own skew)."""
    out = []
    for source, per_day in ing.objectsPerDay.items():
        quiet_since = now - timedelta(hours=ing.silentForHours.get(source, 0))
        for days_ago in range(8):
            factor = (
                1.0
                if days_ago
                else ing.todayFactor.get(source, 1.0) * (today or {}).get(source, 1.0)
            )
            count = round(per_day * factor)
            gap = timedelta(days=1) / max(count, 1)
            for n in range(count):
                at = now - timedelta(days=days_ago) - gap * (n + 0.5)
                if at <= quiet_since:
                    out.append((source, n, at))
    return out


def ingestion_keys(ing: IngestionSpec, now: datetime) -> list[str]:
    """The processed bucket's keys: one object per record, in `<source>/<YYYY>/<MM>/<DD>/<HH>/`
    folders (the time of day matters: a source's last 24 h at 02:00 spans two calendar
    days)."""
    return [
        f"{source}/{at:%Y/%m/%d/%H}/{at:%Y%m%dT%H%M%S}-{n:04d}.json"
        for source, n, at in ingestion_times(ing, now)
    ]


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
#: A database per pipeline in the process's one store.
_DATABASES = itertools.count(1)


def record_lines(ing: IngestionSpec, ts: TimeSeriesSpec, now: datetime) -> list[str]:
    """The store's points in line protocol, nanosecond timestamps of the virtual clock."""
    return [
        f"{ts.measurement},{ts.sourceTag}={source} {ts.field}={n}i "
        f"{(at - _EPOCH) // timedelta(microseconds=1) * 1000}"
        for source, n, at in ingestion_times(ing, now, ts.todayFactor)
    ]


class DataWorld:
    """The data domain's part of `local.worlds.World`."""

    spec: DataSpec
    influx_instances: InfluxInstanceWorld

    def seed_data(self, p: Pipeline) -> None:
        for ing in self.spec.ingestion:
            self.seed_ingestion(p, ing)
        self.influx_instances = InfluxInstanceWorld()
        for inst in self.spec.influxInstances:
            self.influx_instances.seed(p, inst)

    def evaluate_data(self, p: Pipeline) -> None:
        """The instances' write latency, up to now, before the alarms read it."""
        world: InfluxInstanceWorld | None = getattr(self, "influx_instances", None)
        if world is not None:  # seeded
            world.publish_all(p)

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
        if ing.timeSeries:
            self.seed_store(p, ing, ing.timeSeries)

    def seed_store(self, p: Pipeline, ing: IngestionSpec, ts: TimeSeriesSpec) -> None:
        """The records in the store, and the store registered as the integrity check reads
        it: endpoint and names in Parameter Store, a read-only user in Secrets Manager."""
        server = shared_influx()
        database = f"{ts.database}_{next(_DATABASES)}"
        user, password = server.create_database(database)
        server.write(database, record_lines(ing, ts, p.clock.now()))
        secret = p.client("secretsmanager").create_secret(
            Name=f"selfheal/data/timeseries/{ing.scope}",
            SecretString=json.dumps({"username": user, "password": password}),
        )["ARN"]
        registration = {
            "url": server.url,
            "database": database,
            "measurement": ts.measurement,
            "field": ts.field,
            "sourceTag": ts.sourceTag,
            "secretArn": secret,
        }
        p.client("ssm").put_parameter(
            Name=records.parameter_name(ing.scope),
            Type="String",
            Value=json.dumps(registration),
            Overwrite=True,
        )

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
