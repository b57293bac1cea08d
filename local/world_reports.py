"""The simulated world of the scheduled jobs: organizations with battery systems, a month of
15-minute readings and the NF-e that bill them (fiscal_report); hourly load, the serving
forecast model and its accuracy alarm (retrain_model).

Data is generated deterministically from the world file (same file, same bytes), written
where the EMS exports it in AWS (`selfheal_shared.datalake` documents the layout), so the
jobs read it exactly as they would there.
"""

from __future__ import annotations

import hashlib
import json
import random
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from selfheal_shared import datalake, fiscal, forecast

if TYPE_CHECKING:
    from .host import Pipeline

#: IBGE codes of the states in the demo (the first two digits of an NF-e access key).
UF_CODES = {"SP": 35, "MG": 31, "RJ": 33, "PR": 41, "RS": 43, "SC": 42, "BA": 29, "GO": 52}
D = Decimal


# -- fiscal ---------------------------------------------------------------------------------


class BatterySite(BaseModel):
    """One consumer unit: its load and its battery (charges at night, discharges at peak)."""

    model_config = ConfigDict(extra="forbid")

    systemId: str
    baseLoadKw: float = Field(gt=0)
    batteryKw: float = Field(ge=0)
    batteryKwh: float = Field(ge=0)
    efficiency: float = Field(default=0.92, gt=0, le=1)


class FiscalOrg(BaseModel):
    model_config = ConfigDict(extra="forbid")

    organizationId: str
    name: str
    cnpj: str
    uf: str
    taxRegime: Literal["simples", "lucro_presumido", "lucro_real"]
    icmsRate: str
    productionShare: str
    tariff: dict[str, Any]
    sites: list[BatterySite]
    notifyEmail: str = ""

    def profile(self) -> fiscal.OrgProfile:
        return fiscal.OrgProfile.model_validate(
            {
                "organizationId": self.organizationId,
                "name": self.name,
                "cnpj": self.cnpj,
                "uf": self.uf,
                "taxRegime": self.taxRegime,
                "icmsRate": self.icmsRate,
                "productionShare": self.productionShare,
                "tariff": self.tariff,
                "systems": [s.systemId for s in self.sites],
                "notifyEmail": self.notifyEmail,
            }
        )


class FiscalWorld(BaseModel):
    model_config = ConfigDict(extra="forbid")

    #: Months with data (YYYY-MM); empty = the clock's month and the one before, in Brasilia
    #: (the current month whole, so firing the next day-1 schedule has its month to report).
    months: list[str] = Field(default_factory=list)
    organizations: list[FiscalOrg]


def _load_shape(local: datetime) -> float:
    """An industrial load curve: two shifts on weekdays, a skeleton crew at weekends."""
    h = local.hour + local.minute / 60
    if local.weekday() >= 5:
        return 0.35
    if h < 6:
        return 0.45
    if h < 8:
        return 0.8
    if h < 18:
        return 0.9 if 12 <= h < 13 else 1.0
    if h < 22:
        return 0.85
    return 0.55


def _q3(v: float) -> Decimal:
    return fiscal.energy(D(repr(v)))


def site_intervals(site: BatterySite, period: str, tariff: fiscal.Tariff) -> list[fiscal.Interval]:
    """A month of 15-minute readings: the battery charges 00:00-04:00 and discharges in the
    peak window on weekdays, never more than the load (no export)."""
    start, end = fiscal.period_bounds(period)
    rnd = random.Random(f"{site.systemId}/{period}")
    soc = site.batteryKwh / 2
    out = []
    at = start
    while at < end:
        local = at.astimezone(fiscal.FISCAL_TZ)
        load = _q3(site.baseLoadKw * _load_shape(local) * (1 + rnd.uniform(-0.04, 0.04)) / 4)
        charge = discharge = D(0)
        if local.time() < time(4):
            energy = min(site.batteryKw / 4, (site.batteryKwh - soc) / site.efficiency)
            charge = _q3(max(0.0, energy))
            soc += float(charge) * site.efficiency
        elif fiscal.tariff_period(at, tariff) == "ponta":
            discharge = min(_q3(min(site.batteryKw / 4, soc)), load)
            soc -= float(discharge)
        out.append(
            fiscal.Interval(at, site.systemId, load - discharge + charge, charge, discharge, load)
        )
        at = (at.astimezone(UTC) + fiscal.INTERVAL).astimezone(fiscal.FISCAL_TZ)
    return out


def intervals_csv(rows: list[fiscal.Interval]) -> str:
    lines = ["start,systemId,gridImportKwh,chargeKwh,dischargeKwh,loadKwh"]
    lines += [
        f"{r.start.isoformat()},{r.systemId},{r.gridImportKwh},{r.chargeKwh},"
        f"{r.dischargeKwh},{r.loadKwh}"
        for r in rows
    ]
    return "\n".join(lines) + "\n"


def _first_business_day_after(period: str) -> date:
    day = fiscal.period_bounds(period)[1].date()
    while day.weekday() >= 5:
        day += timedelta(days=1)
    return day


def site_invoice(
    org: FiscalOrg,
    profile: fiscal.OrgProfile,
    site: BatterySite,
    period: str,
    rows: list[fiscal.Interval],
) -> dict[str, Any]:
    """The distributor's NF-e for the site's month: ICMS "por dentro" (in its own base)."""
    kwh = sum((r.gridImportKwh for r in rows), D(0))
    net = D(0)
    billed = fiscal.billing_tariff(profile.tariff, period)  # holidays are off-peak
    for tp, price in (
        ("ponta", profile.tariff.pricePeak),
        ("fora_ponta", profile.tariff.priceOffPeak),
    ):
        part = sum(
            (r.gridImportKwh for r in rows if fiscal.tariff_period(r.start, billed) == tp),
            D(0),
        )
        net += part * price
    total = fiscal.money(fiscal.money(net) / (1 - profile.icmsRate))
    digest = int(hashlib.sha256(f"{site.systemId}/{period}".encode()).hexdigest(), 16)
    number = str(100000 + digest % 800000)
    issued = _first_business_day_after(period)
    key = fiscal.access_key(
        uf_code=UF_CODES.get(org.uf, 35),
        issued=issued,
        cnpj=org.cnpj,
        series="1",
        number=number,
        code=str(digest % 10**8),
    )
    return {
        "number": number,
        "series": "1",
        "accessKey": key,
        "issuedOn": issued.isoformat(),
        "systemId": site.systemId,
        "kwh": str(fiscal.energy(kwh)),
        "totalBrl": str(total),
        "icmsBaseBrl": str(total),
        "icmsRate": str(profile.icmsRate),
        "icmsBrl": str(fiscal.money(total * profile.icmsRate)),
    }


def seed_fiscal(p: Pipeline, world: FiscalWorld) -> None:
    s3 = p.client("s3")
    bucket = p.buckets["data"]
    now = p.clock.now()
    months = world.months or [
        fiscal.previous_period(now),
        f"{now.astimezone(fiscal.FISCAL_TZ):%Y-%m}",
    ]
    for org in world.organizations:
        profile = org.profile()
        s3.put_object(
            Bucket=bucket,
            Key=datalake.profile_key(org.organizationId),
            Body=profile.model_dump_json().encode(),
        )
        for period in months:
            rows: list[fiscal.Interval] = []
            invoices = []
            for site in org.sites:
                site_rows = site_intervals(site, period, profile.tariff)
                rows += site_rows
                invoices.append(site_invoice(org, profile, site, period, site_rows))
            rows.sort(key=lambda r: (r.start, r.systemId))
            s3.put_object(
                Bucket=bucket,
                Key=datalake.transactions_key(org.organizationId, period),
                Body=intervals_csv(rows).encode(),
            )
            s3.put_object(
                Bucket=bucket,
                Key=datalake.invoices_key(org.organizationId, period),
                Body=json.dumps(invoices, indent=1).encode(),
            )


# -- forecasting ----------------------------------------------------------------------------


class LoadChange(BaseModel):
    """The load times `factor` from `fromDaysAgo` until `toDaysAgo` (0 = now)."""

    model_config = ConfigDict(extra="forbid")

    fromDaysAgo: float
    toDaysAgo: float = 0
    factor: float = Field(gt=0)


class ServingModel(BaseModel):
    """The model serving when the world starts: fitted on an older window, promoted then."""

    model_config = ConfigDict(extra="forbid")

    fitFromDaysAgo: int
    fitToDaysAgo: int
    promotedDaysAgo: float
    #: Earlier approved versions to register below it (a rollback needs one).
    olderVersions: int = 1


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
            if ch.toDaysAgo < days_ago <= ch.fromDaysAgo:
                factor *= ch.factor
        noise = 1 + rnd.uniform(-system.noise, system.noise) if system.noise else 1.0
        out[at] = round(system.baseLoadKw * _load_shape(at.astimezone(tz)) * factor * noise, 4)
    return out


def _month(at: datetime) -> str:
    return f"{at.year:04d}-{at.month:02d}"


def seed_forecasting(p: Pipeline, world: ForecastWorld) -> None:
    from selfheal_shared import registry

    p.training.duration_seconds = world.trainingMinutes * 60
    s3, cw = p.client("s3"), p.client("cloudwatch")
    data, models = p.buckets["data"], p.buckets["models"]
    end = history_end(p)
    for system in world.systems:
        config = datalake.SystemConfig(
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
            model = forecast.fit(window, system.modelType, system.timezone)
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

    from .world import World

    assert isinstance(p.world, World) and p.world.spec.forecasting is not None
    system = next(s for s in p.world.spec.forecasting.systems if s.systemId == system_id)
    tz = ZoneInfo(system.timezone)
    s3, data = p.client("s3"), p.buckets["data"]
    new: forecast.Series = {}
    at = start
    while at < end:
        new[at] = round(system.baseLoadKw * _load_shape(at.astimezone(tz)) * factor, 4)
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
    publishes: the same computation, `selfheal_shared.forecast_accuracy`)."""
    from selfheal_shared import forecast_accuracy

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


def seed_scheduled_jobs(
    p: Pipeline, fiscal_world: FiscalWorld | None, forecasting: ForecastWorld | None
) -> None:
    """The one hook `World.seed` calls."""
    if fiscal_world:
        seed_fiscal(p, fiscal_world)
    if forecasting:
        seed_forecasting(p, forecasting)
