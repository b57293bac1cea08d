"""The ml domain's world (`retrain_model`): hourly load, the serving forecast model and its
accuracy alarm.

Data is generated deterministically from the world file (same file, same bytes), written
where the EMS exports it in AWS (`selfheal_shared.core.datalake` documents the layout), so the
jobs read it exactly as they would there. The load has the shape the reports world bills
(`load_shape`).
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field
from selfheal_shared.core import datalake
from selfheal_shared.ml import forecast, systems

from local.world_api import Pipeline
from local.worlds.reports import load_shape


class LoadChange(BaseModel):
    """The load times `factor` from `fromDaysAgo` until `toDaysAgo` (0 = now), at the local
    `hours` of the day (all when empty) on the `days` named (a new machine on one shift, a
    weekend schedule): changes a forecast sees at some hours and not others."""

    model_config = ConfigDict(extra="forbid")

    fromDaysAgo: float
    toDaysAgo: float = 0
    factor: float = Field(gt=0)
    hours: list[int] = Field(default_factory=list)
    days: Literal["all", "weekdays", "weekends"] = "all"

    def applies(self, days_ago: float, local: datetime) -> bool:
        if not self.toDaysAgo < days_ago <= self.fromDaysAgo:
            return False
        if self.hours and local.hour not in self.hours:
            return False
        weekend = local.weekday() >= 5
        return self.days == "all" or (self.days == "weekends") == weekend


class ServingModel(BaseModel):
    """The model serving when the world starts: fitted on an older window, promoted then."""

    model_config = ConfigDict(extra="forbid")

    fitFromDaysAgo: int
    fitToDaysAgo: int
    promotedDaysAgo: float
    #: Earlier approved versions to register below it (the registry keeps each promotion).
    olderVersions: int = 1
    #: Its model type when not the system's (the system's setting changed since).
    modelType: str | None = None


class ForecastSystem(BaseModel):
    model_config = ConfigDict(extra="forbid")

    systemId: str
    organizationId: str
    modelType: str = "ensemble"
    trainingWindowDays: int = 90
    timezone: str = "America/Sao_Paulo"
    historyDays: int = 120
    baseLoadKw: float = Field(gt=0)
    changes: list[LoadChange] = Field(default_factory=list)
    #: Relative noise amplitude (0 = an exact, testable series).
    noise: float = Field(default=0.0, ge=0, lt=1)
    servingModel: ServingModel | None = None


class ForecastWorld(BaseModel):
    model_config = ConfigDict(extra="forbid")

    #: Virtual minutes a SageMaker training job runs.
    trainingMinutes: float = 15
    systems: list[ForecastSystem]


def history_end(p: Pipeline) -> datetime:
    return p.clock.now().replace(minute=0, second=0, microsecond=0)


def load_series(system: ForecastSystem, end: datetime) -> forecast.Series:
    """Hourly load for `historyDays` before `end` (an hour boundary)."""
    from zoneinfo import ZoneInfo

    tz = ZoneInfo(system.timezone)
    rnd = random.Random(system.systemId)
    out: forecast.Series = {}
    for n in range(system.historyDays * 24, 0, -1):
        at = end - timedelta(hours=n)
        days_ago = (end - at).total_seconds() / 86400
        factor = 1.0
        for ch in system.changes:
            if ch.applies(days_ago, at.astimezone(tz)):
                factor *= ch.factor
        noise = 1 + rnd.uniform(-system.noise, system.noise) if system.noise else 1.0
        out[at] = round(system.baseLoadKw * load_shape(at.astimezone(tz)) * factor * noise, 4)
    return out


def _month(at: datetime) -> str:
    return f"{at.year:04d}-{at.month:02d}"


def seed_forecasting(p: Pipeline, world: ForecastWorld) -> None:
    from selfheal_shared.ml import registry

    p.training.duration_seconds = world.trainingMinutes * 60
    s3, cw = p.client("s3"), p.client("cloudwatch")
    data, models = p.buckets["data"], p.buckets["models"]
    end = history_end(p)
    for system in world.systems:
        config = systems.SystemConfig(
            systemId=system.systemId,
            organizationId=system.organizationId,
            modelType=system.modelType,
            trainingWindowDays=system.trainingWindowDays,
            timezone=system.timezone,
        )
        s3.put_object(
            Bucket=data,
            Key=datalake.system_key(system.systemId),
            Body=config.model_dump_json().encode(),
        )
        series = load_series(system, end)
        by_month: dict[str, forecast.Series] = {}
        for at, kw in series.items():
            by_month.setdefault(_month(at), {})[at] = kw
        for month, part in by_month.items():
            s3.put_object(
                Bucket=data,
                Key=datalake.load_key(system.systemId, month),
                Body=forecast.series_csv(part).encode(),
            )
        if system.servingModel:
            sm = system.servingModel
            window = {
                t: v
                for t, v in series.items()
                if end - timedelta(days=sm.fitFromDaysAgo)
                <= t
                < end - timedelta(days=sm.fitToDaysAgo)
            }
            model = forecast.fit(window, sm.modelType or system.modelType, system.timezone)
            for version in range(sm.olderVersions + 1):
                key = f"artifacts/{system.systemId}/seed-{version}/output/model.tar.gz"
                s3.put_object(Bucket=models, Key=key, Body=forecast.pack_model(model.to_json()))
                promoted = end - timedelta(
                    days=sm.promotedDaysAgo + (sm.olderVersions - version) * 7
                )
                registry.register(
                    system.systemId,
                    model_data_url=f"s3://{models}/{key}",
                    image="selfheal-forecast-train:local",
                    approve=True,
                    description=f"seeded serving model {version}",
                    metadata={"promotedAt": promoted.isoformat(), "decision": "promote"},
                    metrics_uri=f"s3://{models}/evaluations/{system.systemId}/seed.json",
                    key=f"seed-{system.systemId}-{version}",
                )
        if cw.describe_alarms(AlarmNames=[alarm_name(system.systemId)])["MetricAlarms"]:
            continue  # the pipeline created it from its definition: evaluated from the metric
        # The alarm the CDK deploys, from the same definition (selfheal_shared/forecast_alarm.json).
        cw.put_metric_alarm(**forecast.accuracy_alarm(system.systemId))
        mape = serving_mape(p, system.systemId)
        cw.set_alarm_state(  # the starting state, quietly (like the other seeded alarms)
            AlarmName=alarm_name(system.systemId),
            StateValue="ALARM" if mape is not None and mape > forecast.MAPE_ALARM_PERCENT else "OK",
            StateReason="initial state of the simulated world",
        )


def write_load(p: Pipeline, system_id: str, start: datetime, end: datetime, factor: float) -> None:
    """Append actuals for [start, end) at `factor` x the usual shape (time passing in a test)."""
    from zoneinfo import ZoneInfo

    assert isinstance(p.world, MlWorld) and p.world.spec.forecasting is not None
    system = next(s for s in p.world.spec.forecasting.systems if s.systemId == system_id)
    tz = ZoneInfo(system.timezone)
    s3, data = p.client("s3"), p.buckets["data"]
    new: forecast.Series = {}
    at = start
    while at < end:
        new[at] = round(system.baseLoadKw * load_shape(at.astimezone(tz)) * factor, 4)
        at += timedelta(hours=1)
    for month in sorted({_month(t) for t in new}):
        key = datalake.load_key(system_id, month)
        try:
            old = forecast.parse_series(s3.get_object(Bucket=data, Key=key)["Body"].read().decode())
        except s3.exceptions.NoSuchKey:
            old = {}
        old.update({t: v for t, v in new.items() if _month(t) == month})
        s3.put_object(Bucket=data, Key=key, Body=forecast.series_csv(old).encode())


def alarm_name(system: str) -> str:
    return forecast.alarm_name(system)


def serving_mape(p: Pipeline, system: str) -> float | None:
    """The serving model's MAPE over the last 7 days of actuals (what the publisher
    publishes: the same computation, `selfheal_shared.ml.forecast_accuracy`)."""
    from selfheal_shared.ml import forecast_accuracy

    metrics, _ = forecast_accuracy.serving_metrics(system, history_end(p))
    return metrics.mape if metrics else None


def publish_accuracy(p: Pipeline, system: str) -> list[str]:
    """The deployed publisher's daily run (`functions/ml/retrain_accuracy`, in-process) for one
    system, then CloudWatch's part: the alarm moves when the published value crosses its
    threshold, emitting its state-change event. Returns the executions it started."""
    done = p.lambdas.handler_for("retrain_accuracy")({"systemId": system}, None)
    mape = done["published"].get(system)
    if mape is None:
        return []
    desired = "ALARM" if mape > forecast.MAPE_ALARM_PERCENT else "OK"
    alarm = p.client("cloudwatch").describe_alarms(AlarmNames=[alarm_name(system)])
    if alarm["MetricAlarms"][0]["StateValue"] == desired:
        return []
    return p.set_alarm_state(alarm_name(system), desired, f"7-day MAPE {mape:.2f} %")


class MlSpec(BaseModel):
    """The ml domain's section of a world file."""

    forecasting: ForecastWorld | None = None


class MlWorld:
    """The ml domain's part of `local.worlds.World`."""

    spec: MlSpec

    def seed_ml(self, p: Pipeline) -> None:
        if self.spec.forecasting:
            seed_forecasting(p, self.spec.forecasting)
