"""The reports domain's world (`fiscal_report`): organizations with battery systems, a month
of 15-minute readings and the NF-e that bill them.

Data is generated deterministically from the world file (same file, same bytes), written
where the EMS exports it in AWS (`selfheal_shared.core.datalake` documents the layout), so the
jobs read it exactly as they would there.
"""

from __future__ import annotations

import functools
import hashlib
import json
import random
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from selfheal_shared.core import datalake
from selfheal_shared.reports import fiscal

from local.world_api import Pipeline

#: IBGE codes of the states in the demo (the first two digits of an NF-e access key).
UF_CODES = {"SP": 35, "MG": 31, "RJ": 33, "PR": 41, "RS": 43, "SC": 42, "BA": 29, "GO": 52}
D = Decimal


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


def load_shape(local: datetime) -> float:
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
        load = _q3(site.baseLoadKw * load_shape(local) * (1 + rnd.uniform(-0.04, 0.04)) / 4)
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


def month_files(org: FiscalOrg, period: str) -> tuple[bytes, bytes]:
    """The organization's month as the EMS exports it: the readings' CSV and the NF-e JSON."""
    return _month_files(org.model_dump_json(), period)


@functools.lru_cache(maxsize=64)
def _month_files(org_json: str, period: str) -> tuple[bytes, bytes]:
    # Pure (seeded by site and period, no clock): the same bytes for the same organization
    # and month, so computed once per process. Every pipeline seeds the demo world again
    # (a test suite builds hundreds), and a month of readings costs ~0.1 s to generate.
    org = FiscalOrg.model_validate_json(org_json)
    profile = org.profile()
    rows: list[fiscal.Interval] = []
    invoices = []
    for site in org.sites:
        site_rows = site_intervals(site, period, profile.tariff)
        rows += site_rows
        invoices.append(site_invoice(org, profile, site, period, site_rows))
    rows.sort(key=lambda r: (r.start, r.systemId))
    return intervals_csv(rows).encode(), json.dumps(invoices, indent=1).encode()


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
            transactions, invoices = month_files(org, period)
            s3.put_object(
                Bucket=bucket,
                Key=datalake.transactions_key(org.organizationId, period),
                Body=transactions,
            )
            s3.put_object(
                Bucket=bucket, Key=datalake.invoices_key(org.organizationId, period), Body=invoices
            )


class ReportsSpec(BaseModel):
    """The reports domain's section of a world file."""

    fiscal: FiscalWorld | None = None


class ReportsWorld:
    """The reports domain's part of `local.worlds.World`."""

    spec: ReportsSpec

    def seed_reports(self, p: Pipeline) -> None:
        if self.spec.fiscal:
            seed_fiscal(p, self.spec.fiscal)
