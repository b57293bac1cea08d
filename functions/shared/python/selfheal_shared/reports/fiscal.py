"""Pure logic of the monthly fiscal report (runbook 000 section 4, E4). No I/O here.

What the accountant checks, computed with `Decimal` and rounded half-up to the cent:
- transactions (15-minute intervals) split by tariff period: *ponta* is the distributor's
  peak window on weekdays (national holidays, from the pinned `holidays` library, and the
  organization's own listed holidays excluded), everything else *fora de ponta*;
- the self-consumption proof: battery discharge never exported (discharge <= load in
  every interval), reconciled against the energy the NF-e invoices bill;
- the ICMS credit memo per NF-e: base x rate = ICMS, x production share = credit, with
  the regime's rule (Simples Nacional takes no ICMS credit); Lucro Real also gets the
  non-cumulative PIS/COFINS credit on the energy.
Rates, peak hours and the production share are the organization's parameters, not
constants here: the accountant validates them, this module only does the arithmetic.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Literal
from zoneinfo import ZoneInfo

from pydantic import ConfigDict, Field, ValidationInfo, field_validator

from ..core.basemodel import Model
from ..core.errors import InputInvalid
from ..core.national_calendar import national_holidays

AUTOMATION = "fiscal_report"
#: Brazil's fiscal calendar runs on Brasilia time; the schedule fires in this zone too.
FISCAL_TZ_NAME = "America/Sao_Paulo"
FISCAL_TZ = ZoneInfo(FISCAL_TZ_NAME)
#: Bumped when the report's content rules change, so old and new reports never collide.
REPORT_VERSION = "1"
INTERVAL = timedelta(minutes=15)
PERIOD_PATTERN = re.compile(r"^(?P<y>\d{4})-(?P<m>0[1-9]|1[0-2])$")
ORG_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
#: Non-cumulative PIS (1.65 %) + COFINS (7.6 %): only Lucro Real takes these credits.
PIS_COFINS_RATE = Decimal("0.0925")
CENT = Decimal("0.01")
MILLI = Decimal("0.001")

Regime = Literal["simples", "lucro_presumido", "lucro_real"]
TariffPeriod = Literal["ponta", "fora_ponta"]
TARIFF_PERIODS: tuple[TariffPeriod, ...] = ("ponta", "fora_ponta")

REGIME_LABEL: dict[str, str] = {
    "simples": "Simples Nacional",
    "lucro_presumido": "Lucro Presumido",
    "lucro_real": "Lucro Real",
}
#: What each regime allows, in the words the report prints.
REGIME_RULE: dict[str, str] = {
    "simples": "Simples Nacional: ICMS credit not taken (LC 123/2006, art. 23); "
    "PIS/COFINS cumulative inside the DAS, no credit.",
    "lucro_presumido": "Lucro Presumido: ICMS credit on energy used in production "
    "(LC 87/1996, art. 33, II, b); PIS/COFINS cumulative, no credit.",
    "lucro_real": "Lucro Real: ICMS credit on energy used in production "
    "(LC 87/1996, art. 33, II, b); non-cumulative PIS/COFINS credit of 9.25 % "
    "on the energy net of ICMS.",
}


def money(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def energy(value: Decimal) -> Decimal:
    return value.quantize(MILLI, rounding=ROUND_HALF_UP)


# -- inputs -------------------------------------------------------------------------------


class Tariff(Model):
    """The distributor's peak window (local time, weekdays) and prices per kWh."""

    model_config = ConfigDict(extra="forbid")

    peakStart: time
    peakEnd: time
    pricePeak: Decimal = Field(gt=0)
    priceOffPeak: Decimal = Field(gt=0)
    #: The organization's additions to the national calendar (municipal, state holidays).
    holidays: list[date] = Field(default_factory=list)

    @field_validator("peakEnd")
    @classmethod
    def _after_start(cls, v: time, info: ValidationInfo) -> time:
        start = info.data.get("peakStart")
        if start is not None and v <= start:
            raise ValueError("peakEnd must be after peakStart")
        return v


class OrgProfile(Model):
    model_config = ConfigDict(extra="forbid")

    organizationId: str = Field(pattern=ORG_PATTERN)
    name: str = Field(min_length=1)
    cnpj: str = Field(pattern=r"^\d{2}\.\d{3}\.\d{3}/\d{4}-\d{2}$")
    uf: str = Field(pattern=r"^[A-Z]{2}$")
    taxRegime: Regime
    icmsRate: Decimal = Field(gt=0, lt=1)
    #: Share of the energy consumed in the production process (the technical report).
    productionShare: Decimal = Field(ge=0, le=1)
    tariff: Tariff
    systems: list[str] = Field(min_length=1)
    notifyEmail: str = ""


@dataclass(frozen=True)
class Interval:
    """One 15-minute reading of one system (consumer unit); energies in kWh."""

    start: datetime
    systemId: str
    gridImportKwh: Decimal
    chargeKwh: Decimal
    dischargeKwh: Decimal
    loadKwh: Decimal


class Invoice(Model):
    """An NF-e for the energy of one consumer unit in the period."""

    model_config = ConfigDict(extra="forbid")

    number: str = Field(pattern=r"^\d{1,9}$")
    series: str = Field(pattern=r"^\d{1,3}$")
    accessKey: str = Field(pattern=r"^\d{44}$")
    issuedOn: date
    systemId: str
    kwh: Decimal = Field(ge=0)
    totalBrl: Decimal = Field(ge=0)
    icmsBaseBrl: Decimal = Field(ge=0)
    icmsRate: Decimal = Field(ge=0, lt=1)
    icmsBrl: Decimal = Field(ge=0)


# -- periods ------------------------------------------------------------------------------


def parse_period(text: str) -> tuple[int, int]:
    m = PERIOD_PATTERN.match(text or "")
    if not m:
        raise InputInvalid(f"period: {text!r} is not a month as YYYY-MM")
    return int(m["y"]), int(m["m"])


def period_bounds(period: str) -> tuple[datetime, datetime]:
    """[first instant, first instant of the next month) in Brasilia time."""
    y, m = parse_period(period)
    start = datetime(y, m, 1, tzinfo=FISCAL_TZ)
    end = datetime(y + (m == 12), m % 12 + 1, 1, tzinfo=FISCAL_TZ)
    return start, end


def previous_period(at: datetime) -> str:
    """The month before `at` as seen in Brasilia: what the day-1 run reports on."""
    local = at.astimezone(FISCAL_TZ)
    y, m = (local.year - 1, 12) if local.month == 1 else (local.year, local.month - 1)
    return f"{y:04d}-{m:02d}"


def require_closed(period: str, now: datetime, source: str = "") -> None:
    """A month is reported once it is over, never while it still receives data. `source`
    says where the period came from (a scheduled run's fire time)."""
    _, end = period_bounds(period)
    if now < end:
        raise InputInvalid(
            f"period: {period} is not over yet (ends {end.isoformat()}, now "
            f"{now.astimezone(FISCAL_TZ).isoformat()})" + (f"; from {source}" if source else "")
        )


def billing_tariff(tariff: Tariff, period: str) -> Tariff:
    """The tariff the month is billed with: the organization's listed holidays plus the
    national ones of the month (a holiday on a weekday is all *fora de ponta*)."""
    start, end = period_bounds(period)
    national = national_holidays(start.date(), end.date())
    return tariff.model_copy(update={"holidays": sorted({*tariff.holidays, *national})})


def tariff_period(at: datetime, tariff: Tariff) -> TariffPeriod:
    local = at.astimezone(FISCAL_TZ)
    if local.weekday() >= 5 or local.date() in tariff.holidays:
        return "fora_ponta"
    return "ponta" if tariff.peakStart <= local.time() < tariff.peakEnd else "fora_ponta"


# -- NF-e -------------------------------------------------------------------------------------


def access_key_check_digit(first43: str) -> int:
    """Modulo-11 check digit of an NF-e access key (weights 2..9 from the right)."""
    total = sum(int(d) * (2 + i % 8) for i, d in enumerate(reversed(first43)))
    rest = total % 11
    return 0 if rest < 2 else 11 - rest


def access_key(
    *, uf_code: int, issued: date, cnpj: str, series: str, number: str, code: str
) -> str:
    cnpj_digits = re.sub(r"\D", "", cnpj)
    digits = (
        f"{uf_code:02d}{issued:%y%m}{cnpj_digits:0>14}55"
        f"{int(series):03d}{int(number):09d}1{int(code):08d}"
    )
    return digits + str(access_key_check_digit(digits))


def access_key_valid(key: str) -> bool:
    return bool(re.fullmatch(r"\d{44}", key)) and access_key_check_digit(key[:43]) == int(key[43])


# -- the report -------------------------------------------------------------------------------


@dataclass(frozen=True)
class PeriodTotals:
    period: TariffPeriod
    intervals: int
    gridImportKwh: Decimal
    chargeKwh: Decimal
    dischargeKwh: Decimal
    loadKwh: Decimal
    priceBrlPerKwh: Decimal
    gridCostBrl: Decimal


@dataclass(frozen=True)
class DailyRow:
    day: date
    pontaKwh: Decimal
    foraPontaKwh: Decimal
    dischargePontaKwh: Decimal


@dataclass(frozen=True)
class IcmsLine:
    invoice: Invoice
    computedIcmsBrl: Decimal
    matchesInvoice: bool
    creditBrl: Decimal
    pisCofinsCreditBrl: Decimal


@dataclass(frozen=True)
class FiscalReport:
    profile: OrgProfile
    period: str
    sourceDigest: str
    intervals: int
    totals: dict[str, PeriodTotals]
    daily: list[DailyRow]
    selfConsumedKwh: Decimal
    exportedKwh: Decimal
    intervalsWithExport: int
    meteredImportKwh: Decimal
    invoicedKwh: Decimal
    icms: list[IcmsLine]
    icmsCreditBrl: Decimal
    pisCofinsCreditBrl: Decimal
    avoidedPeakCostBrl: Decimal
    warnings: list[str] = field(default_factory=list)

    @property
    def regime_rule(self) -> str:
        return REGIME_RULE[self.profile.taxRegime]

    @property
    def self_consumption_proven(self) -> bool:
        return self.exportedKwh == 0 and not any("access key" in w for w in self.warnings)


def parse_intervals(text: str) -> list[Interval]:
    """The EMS export: `start,systemId,gridImportKwh,chargeKwh,dischargeKwh,loadKwh`."""
    out: list[Interval] = []
    reader = csv.DictReader(io.StringIO(text))
    for n, row in enumerate(reader, start=2):
        try:
            start = datetime.fromisoformat(row["start"])
            if start.tzinfo is None:
                raise ValueError("timestamp without a time zone")
            values = [
                Decimal(row[k]) for k in ("gridImportKwh", "chargeKwh", "dischargeKwh", "loadKwh")
            ]
        except (KeyError, ValueError, ArithmeticError, TypeError) as exc:
            raise InputInvalid(f"transactions line {n}: {exc}") from None
        if any(v < 0 for v in values):
            raise InputInvalid(f"transactions line {n}: negative energy")
        out.append(Interval(start, row["systemId"], *values))
    return out


def source_digest(*parts: bytes) -> str:
    """What the report is computed from (plus the rules' version): same digest, same report."""
    h = hashlib.sha256(REPORT_VERSION.encode())
    for part in parts:
        h.update(len(part).to_bytes(8, "big"))
        h.update(part)
    return h.hexdigest()


def build_report(
    profile: OrgProfile,
    period: str,
    intervals: Iterable[Interval],
    invoices: list[Invoice],
    digest: str,
) -> FiscalReport:
    start, end = period_bounds(period)
    profile = profile.model_copy(update={"tariff": billing_tariff(profile.tariff, period)})
    rows = [i for i in intervals if start <= i.start < end and i.systemId in profile.systems]
    if not rows:
        raise InputInvalid(
            f"transactions: no readings for {profile.organizationId} in {period}; nothing to report"
        )
    warnings: list[str] = []
    price = {"ponta": profile.tariff.pricePeak, "fora_ponta": profile.tariff.priceOffPeak}
    sums: dict[str, dict[str, Decimal]] = {
        p: {"grid": Decimal(0), "charge": Decimal(0), "discharge": Decimal(0), "load": Decimal(0)}
        for p in TARIFF_PERIODS
    }
    counts = dict.fromkeys(TARIFF_PERIODS, 0)
    daily: dict[date, dict[str, Decimal]] = {}
    self_consumed = exported = Decimal(0)
    export_intervals = 0
    for iv in sorted(rows, key=lambda r: (r.start, r.systemId)):
        tp = tariff_period(iv.start, profile.tariff)
        counts[tp] += 1
        s = sums[tp]
        s["grid"] += iv.gridImportKwh
        s["charge"] += iv.chargeKwh
        s["discharge"] += iv.dischargeKwh
        s["load"] += iv.loadKwh
        day = daily.setdefault(
            iv.start.astimezone(FISCAL_TZ).date(),
            {"ponta": Decimal(0), "fora_ponta": Decimal(0), "dis": Decimal(0)},
        )
        day[tp] += iv.gridImportKwh
        if tp == "ponta":
            day["dis"] += iv.dischargeKwh
        used = min(iv.dischargeKwh, iv.loadKwh)
        self_consumed += used
        if iv.dischargeKwh > iv.loadKwh:
            exported += iv.dischargeKwh - iv.loadKwh
            export_intervals += 1
    totals: dict[str, PeriodTotals] = {
        p: PeriodTotals(
            period=p,
            intervals=counts[p],
            gridImportKwh=energy(sums[p]["grid"]),
            chargeKwh=energy(sums[p]["charge"]),
            dischargeKwh=energy(sums[p]["discharge"]),
            loadKwh=energy(sums[p]["load"]),
            priceBrlPerKwh=price[p],
            gridCostBrl=money(energy(sums[p]["grid"]) * price[p]),
        )
        for p in TARIFF_PERIODS
    }
    lines = []
    credit_allowed = profile.taxRegime != "simples"
    for inv in sorted(invoices, key=lambda i: (i.issuedOn, i.number)):
        if not access_key_valid(inv.accessKey):
            warnings.append(f"NF-e {inv.number}: access key {inv.accessKey} fails its check digit")
        computed = money(inv.icmsBaseBrl * inv.icmsRate)
        credit = money(computed * profile.productionShare) if credit_allowed else Decimal("0.00")
        pis = (
            money((inv.totalBrl - computed) * PIS_COFINS_RATE * profile.productionShare)
            if profile.taxRegime == "lucro_real"
            else Decimal("0.00")
        )
        if computed != inv.icmsBrl:
            warnings.append(
                f"NF-e {inv.number}: ICMS stated R$ {inv.icmsBrl} differs from "
                f"base x rate = R$ {computed}"
            )
        lines.append(IcmsLine(inv, computed, computed == inv.icmsBrl, credit, pis))
    metered = energy(sum((t.gridImportKwh for t in totals.values()), Decimal(0)))
    invoiced = energy(sum((i.kwh for i in invoices), Decimal(0)))
    if not invoices:
        warnings.append("no NF-e for the period: self-consumption cannot reference an invoice")
    elif metered != invoiced:
        warnings.append(f"metered grid import {metered} kWh differs from invoiced {invoiced} kWh")
    if exported:
        warnings.append(f"{export_intervals} intervals discharged more than the load")
    return FiscalReport(
        profile=profile,
        period=period,
        sourceDigest=digest,
        intervals=len(rows),
        totals=totals,
        daily=[
            DailyRow(d, energy(v["ponta"]), energy(v["fora_ponta"]), energy(v["dis"]))
            for d, v in sorted(daily.items())
        ],
        selfConsumedKwh=energy(self_consumed),
        exportedKwh=energy(exported),
        intervalsWithExport=export_intervals,
        meteredImportKwh=metered,
        invoicedKwh=invoiced,
        icms=lines,
        icmsCreditBrl=money(sum((ln.creditBrl for ln in lines), Decimal(0))),
        pisCofinsCreditBrl=money(sum((ln.pisCofinsCreditBrl for ln in lines), Decimal(0))),
        avoidedPeakCostBrl=money(totals["ponta"].dischargeKwh * profile.tariff.pricePeak),
        warnings=warnings,
    )


# -- presentation -----------------------------------------------------------------------------


def br(value: Decimal, places: int = 2) -> str:
    """pt-BR number: 1.234.567,89 (what the accountant reads)."""
    q = Decimal(1).scaleb(-places)
    text = f"{value.quantize(q, rounding=ROUND_HALF_UP):,.{places}f}"
    return text.replace(",", "_").replace(".", ",").replace("_", ".")


def pct(value: Decimal) -> str:
    return br(value * 100, 2) + " %"


TARIFF_LABEL = {"ponta": "Ponta", "fora_ponta": "Fora de ponta"}


def render_csv(report: FiscalReport) -> bytes:
    """The same content as the PDF, one row per figure, dot decimals for spreadsheets."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    p = report.profile
    w.writerow(["section", "reference", "description", "quantity", "unit", "rate", "amount_brl"])
    w.writerow(["header", p.organizationId, p.name, "", "", "", ""])
    w.writerow(["header", "cnpj", p.cnpj, "", "", "", ""])
    w.writerow(["header", "period", report.period, "", "", "", ""])
    w.writerow(["header", "source_sha256", report.sourceDigest, "", "", "", ""])
    w.writerow(["regime", p.taxRegime, report.regime_rule, "", "", "", ""])
    for tp in TARIFF_PERIODS:
        t = report.totals[tp]
        w.writerow(
            [
                "tariff_period",
                tp,
                "grid import",
                t.gridImportKwh,
                "kWh",
                t.priceBrlPerKwh,
                t.gridCostBrl,
            ]
        )
        w.writerow(["tariff_period", tp, "battery charge", t.chargeKwh, "kWh", "", ""])
        w.writerow(["tariff_period", tp, "battery discharge", t.dischargeKwh, "kWh", "", ""])
        w.writerow(["tariff_period", tp, "load", t.loadKwh, "kWh", "", ""])
        w.writerow(["tariff_period", tp, "intervals", t.intervals, "15min", "", ""])
    for d in report.daily:
        w.writerow(["daily", d.day.isoformat(), "grid import ponta", d.pontaKwh, "kWh", "", ""])
        w.writerow(
            ["daily", d.day.isoformat(), "grid import fora_ponta", d.foraPontaKwh, "kWh", "", ""]
        )
    w.writerow(
        ["self_consumption", "", "self-consumed discharge", report.selfConsumedKwh, "kWh", "", ""]
    )
    w.writerow(["self_consumption", "", "exported discharge", report.exportedKwh, "kWh", "", ""])
    w.writerow(
        ["self_consumption", "", "metered grid import", report.meteredImportKwh, "kWh", "", ""]
    )
    w.writerow(["self_consumption", "", "invoiced (NF-e)", report.invoicedKwh, "kWh", "", ""])
    for ln in report.icms:
        inv = ln.invoice
        ref = f"{inv.number}/{inv.series}"
        w.writerow(["nfe", ref, inv.accessKey, inv.kwh, "kWh", "", inv.totalBrl])
        w.writerow(
            [
                "icms_credit",
                ref,
                "ICMS = base x rate",
                inv.icmsBaseBrl,
                "BRL",
                inv.icmsRate,
                ln.computedIcmsBrl,
            ]
        )
        w.writerow(
            [
                "icms_credit",
                ref,
                "credit = ICMS x production share",
                ln.computedIcmsBrl,
                "BRL",
                p.productionShare,
                ln.creditBrl,
            ]
        )
        if p.taxRegime == "lucro_real":
            w.writerow(
                [
                    "pis_cofins_credit",
                    ref,
                    "credit = (total - ICMS) x 9.25% x production share",
                    inv.totalBrl - ln.computedIcmsBrl,
                    "BRL",
                    PIS_COFINS_RATE,
                    ln.pisCofinsCreditBrl,
                ]
            )
    w.writerow(["total", "", "ICMS credit", "", "", "", report.icmsCreditBrl])
    w.writerow(["total", "", "PIS/COFINS credit", "", "", "", report.pisCofinsCreditBrl])
    w.writerow(
        [
            "total",
            "",
            "avoided peak cost (discharge in ponta x peak price)",
            report.totals["ponta"].dischargeKwh,
            "kWh",
            p.tariff.pricePeak,
            report.avoidedPeakCostBrl,
        ]
    )
    for warning in report.warnings:
        w.writerow(["warning", "", warning, "", "", "", ""])
    return buf.getvalue().encode("utf-8")


def report_key(organization_id: str, period: str, fmt: str) -> str:
    """One key per org, period and format: re-runs land on the same key, as new versions."""
    return f"reports/{organization_id}/{period}/fiscal-report.{fmt}"


def creation_date(period: str) -> datetime:
    """A fixed creation date (the end of the period) keeps the PDF byte-identical on re-runs."""
    return period_bounds(period)[1].astimezone(UTC)
