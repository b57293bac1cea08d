"""The data world's Timestream for InfluxDB instance (runbook 001 `ons-influxdb-prod`): made
in moto (AVAILABLE, as after its creation), registered as selfheal reads it
(`/selfheal/data/influxdb/<database>`), and the write latency the platform's writes see on
it published each virtual minute to `AWS/Timestream InfluxDB_WriteLatency`: a figure per
instance class (the load the world puts on it), so scaling it is what brings the alarm
back, and nothing the workflow says decides that."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timedelta
from typing import Any
from unittest import mock

from moto.core.models import DEFAULT_ACCOUNT_ID
from moto.timestreaminfluxdb import models as tsdb_models
from moto.timestreaminfluxdb.models import InstanceStatus, timestreaminfluxdb_backends
from pydantic import BaseModel, ConfigDict, Field
from selfheal_shared.data import influx_scaling

from local.world_api import Pipeline


class InfluxInstanceSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = "ons-influxdb-prod"
    database: str = "ons_influxdb_prod"
    #: The ingestion scope whose time-series store (its `timeSeries`) this instance serves.
    scope: str
    dbInstanceType: str = "db.influx.medium"
    allocatedStorage: int = 100
    #: Average write latency (ms) on each class; a class not listed publishes nothing.
    writeLatencyMs: dict[str, float] = Field(default_factory=dict)


class InfluxInstanceWorld:
    """Keeps, per instance, the last minute it published and the id moto gave it."""

    def __init__(self) -> None:
        #: The instances seeded, by name (the world file's, and a scene's).
        self.specs: dict[str, InfluxInstanceSpec] = {}
        self.ids: dict[str, str] = {}
        self.published: dict[str, datetime] = {}
        self.latency: dict[str, float] = {}

    def seed(self, p: Pipeline, spec: InfluxInstanceSpec) -> str:
        tsdb = p.client("timestream-influxdb")
        # moto draws the id from Python's global `random`: named from the instance here, so
        # every run (and the demo's timeline) shows the same id.
        ident = hashlib.sha256(spec.name.encode()).hexdigest()[:10]
        with mock.patch.object(tsdb_models, "random_id", lambda size=10: ident[:size]):
            made = self._create(tsdb, spec)
        # Created long ago: AVAILABLE (moto leaves a new instance CREATING forever), of the
        # spec's class (moto's CreateDbInstance does not know AWS's db.influx.24xlarge).
        backend = timestreaminfluxdb_backends[DEFAULT_ACCOUNT_ID][p.extensions.region]
        made_instance = backend.db_instances[made["id"]]
        made_instance.status = InstanceStatus.AVAILABLE
        made_instance.db_instance_type = spec.dbInstanceType
        self.ids[spec.name] = made["id"]
        self.specs[spec.name] = spec
        p.client("ssm").put_parameter(
            Name=influx_scaling.parameter_name(spec.database),
            Type="String",
            Value=json.dumps({"instanceId": made["id"], "scope": spec.scope}),
            Overwrite=True,
        )
        self.published[spec.name] = p.clock.now().replace(second=0, microsecond=0)
        if spec.dbInstanceType in spec.writeLatencyMs:  # what it serves with from the start
            self.latency[spec.name] = spec.writeLatencyMs[spec.dbInstanceType]
        return str(made["id"])

    @staticmethod
    def _create(tsdb: Any, spec: InfluxInstanceSpec) -> dict[str, Any]:
        made: dict[str, Any] = tsdb.create_db_instance(
            name=spec.name,
            password="not-used-by-selfheal",
            dbInstanceType="db.influx.medium",
            vpcSubnetIds=["subnet-0123456789abcdef0"],
            vpcSecurityGroupIds=["sg-0123456789abcdef0"],
            allocatedStorage=spec.allocatedStorage,
            dbStorageType="InfluxIOIncludedT1",
        )
        return made

    def publish_all(self, p: Pipeline) -> None:
        for spec in list(self.specs.values()):
            self.publish(p, spec)

    def backfill(self, p: Pipeline, spec: InfluxInstanceSpec, minutes: int) -> None:
        """The latency of the last `minutes` (a scene's history: the instance was slow
        already when the sample's alarm went off)."""
        value = spec.writeLatencyMs[spec.dbInstanceType]
        now = p.clock.now().replace(second=0, microsecond=0)
        p.client("cloudwatch").put_metric_data(
            Namespace="AWS/Timestream",
            MetricData=[
                {
                    "MetricName": "InfluxDB_WriteLatency",
                    "Dimensions": [{"Name": "DatabaseName", "Value": spec.database}],
                    "Timestamp": now - timedelta(minutes=m),
                    "Value": value,
                    "Unit": "Milliseconds",
                }
                for m in range(minutes)
            ],
        )
        self.latency[spec.name] = value

    def publish(self, p: Pipeline, spec: InfluxInstanceSpec) -> None:
        """One datum a minute up to now: the latency of the class the instance serves with
        (while it is UPDATING, still the old one's)."""
        if spec.name not in self.ids:
            return
        db = p.client("timestream-influxdb").get_db_instance(identifier=self.ids[spec.name])
        if db["status"] == "AVAILABLE" and db["dbInstanceType"] in spec.writeLatencyMs:
            self.latency[spec.name] = spec.writeLatencyMs[db["dbInstanceType"]]
        value = self.latency.get(spec.name)
        at, now = self.published[spec.name], p.clock.now()
        data = []
        while at + timedelta(minutes=1) <= now:
            at += timedelta(minutes=1)
            if value is not None:
                data.append(
                    {
                        "MetricName": "InfluxDB_WriteLatency",
                        "Dimensions": [{"Name": "DatabaseName", "Value": spec.database}],
                        "Timestamp": at,
                        "Value": value,
                        "Unit": "Milliseconds",
                    }
                )
        self.published[spec.name] = at
        for start in range(0, len(data), 500):
            p.client("cloudwatch").put_metric_data(
                Namespace="AWS/Timestream", MetricData=data[start : start + 500]
            )
