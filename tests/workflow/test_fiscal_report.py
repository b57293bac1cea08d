"""fiscal_report end to end: the day-1 schedule fired at a virtual time, the real ASL on
moto, the PDF opened with pypdf and its numbers checked against a calculation written here
from the raw EMS export (not with selfheal_shared.reports.fiscal)."""

from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from urllib.parse import parse_qs, urlparse
from zoneinfo import ZoneInfo

import pytest
from pypdf import PdfReader
from selfheal_cdk import spec as spec_mod

from local.runtime import Pipeline
from local.schedules import fire
from local.worlds import World, WorldSpec

BRT = ZoneInfo("America/Sao_Paulo")
NEW_YEAR_RUN = datetime(2027, 1, 1, 3, 0, tzinfo=BRT)  # the schedule's own slot
ORGS = ("org-123", "org-456", "org-789")
D = Decimal
#: Written here from the federal calendar, not read from the `holidays` library the code
#: uses: the national holidays of December 2026 (Natal, a Friday).
NATIONAL_HOLIDAYS = {"2026-12-25"}
#: org-123's own addition in its record: Imaculada Conceição, a municipal holiday of Belo
#: Horizonte (a Tuesday in 2026).
MUNICIPAL_HOLIDAY = "2026-12-08"


def fiscal_world(base: WorldSpec) -> WorldSpec:
    spec = base.model_copy(deep=True)
    spec.forecasting = None
    assert spec.fiscal is not None
    spec.fiscal.months = ["2026-11", "2026-12"]
    org = next(o for o in spec.fiscal.organizations if o.organizationId == "org-123")
    org.tariff["holidays"] = [MUNICIPAL_HOLIDAY]
    return spec


def start(jobs_spec: spec_mod.Spec, world: WorldSpec) -> Pipeline:
    p = Pipeline(world=World(world), spec=jobs_spec)
    p.__enter__()
    return p


@dataclass
class Run:
    """What one scheduled run left behind, read out before its moto world closes (moto's
    state is process-wide: one pipeline at a time)."""

    summary: dict[str, Any]
    journal: list[Any]
    audit: list[dict[str, Any]]
    notifications: list[dict[str, Any]]
    data: dict[str, bytes]  # data bucket
    reports: dict[str, bytes]  # reports bucket
    heads: dict[str, dict[str, Any]]
    fetched: dict[str, bytes]  # what each presigned link served

    def raw(self, org: str, period: str = "2026-12") -> str:
        return self.data[f"orgs/{org}/transactions/{period}.csv"].decode()

    def stored(self, org: str, fmt: str) -> bytes:
        return self.reports[f"reports/{org}/2026-12/fiscal-report.{fmt}"]


def bucket_objects(p: Pipeline, kind: str) -> dict[str, bytes]:
    s3, bucket = p.client("s3"), p.buckets[kind]
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]
    return {k: s3.get_object(Bucket=bucket, Key=k)["Body"].read() for k in keys}


@pytest.fixture(scope="module")
def run(jobs_spec: spec_mod.Spec) -> Run:
    """One scheduled run at 2027-01-01 03:00 Brasilia, shared by the read-only checks.
    org-123's export is cut by UTC month, as some EMS exports are: it carries the last
    hours of 30 Nov (local) and the first of 1 Jan (local), which must not be counted."""
    import requests

    world = fiscal_world(World.load().spec)
    world.services, world.ingestion, world.edgeSites = [], [], []
    p = start(jobs_spec, world)
    try:
        data = p.buckets["data"]
        s3 = p.client("s3")
        nov = raw(p, "org-123", "2026-11").splitlines()
        dec = raw(p, "org-123", "2026-12").splitlines()
        spill = [r for r in nov[1:] if r.startswith("2026-11-30T2")]
        extra_jan = ["2027-01-01T00:00:00-03:00,bess-120,999.000,0,0,999.000"]
        s3.put_object(
            Bucket=data,
            Key="orgs/org-123/transactions/2026-12.csv",
            Body="\n".join([dec[0], *spill, *dec[1:], *extra_jan]).encode(),
        )
        arn = fire(p, "fiscal_report_monthly", NEW_YEAR_RUN)
        p.wait([arn], timeout=120)
        notes = p.notifications()
        reports = bucket_objects(p, "reports")
        return Run(
            summary=p.execution_summary(arn),
            journal=list(p.journal),
            audit=p.audit_records(),
            notifications=notes,
            data=bucket_objects(p, "data"),
            reports=reports,
            heads={k: s3.head_object(Bucket=p.buckets["reports"], Key=k) for k in reports},
            fetched={
                d["url"]: requests.get(d["url"], timeout=10).content
                for n in notes
                if n["level"] == "reports"
                for d in n["message"]["downloads"]
            },
        )
    finally:
        p.__exit__(None, None, None)


def raw(p: Pipeline, org: str, period: str) -> str:
    key = f"orgs/{org}/transactions/{period}.csv"
    return str(p.client("s3").get_object(Bucket=p.buckets["data"], Key=key)["Body"].read().decode())


def stored(p: Pipeline, org: str, fmt: str, period: str = "2026-12", **extra: str) -> bytes:
    key = f"reports/{org}/{period}/fiscal-report.{fmt}"
    body = p.client("s3").get_object(Bucket=p.buckets["reports"], Key=key, **extra)["Body"]
    return bytes(body.read())


# -- an independent calculation from the raw export -----------------------------------------


def cents(v: Decimal) -> Decimal:
    return v.quantize(D("0.01"), rounding=ROUND_HALF_UP)


def peak_window(local: datetime, tariff: dict[str, Any]) -> bool:
    """The distributor's window on a weekday, holidays aside."""
    hhmm = f"{local:%H:%M}"
    return local.weekday() < 5 and tariff["peakStart"][:5] <= hhmm < tariff["peakEnd"][:5]


def expected(run: Run, org: str, period: str = "2026-12") -> dict[str, Any]:
    profile = json.loads(run.data[f"orgs/{org}/profile.json"])
    nfe = json.loads(run.data[f"orgs/{org}/nfe/{period}.json"])
    tariff = profile["tariff"]
    grid = {"ponta": D(0), "fora": D(0)}
    days: set[str] = set()
    n = 0
    for row in csv.DictReader(io.StringIO(run.raw(org, period))):
        local = datetime.fromisoformat(row["start"]).astimezone(BRT)
        if f"{local:%Y-%m}" != period:
            continue
        n += 1
        days.add(f"{local:%Y-%m-%d}")
        peak = peak_window(local, tariff) and f"{local:%Y-%m-%d}" not in {
            *NATIONAL_HOLIDAYS,
            *tariff["holidays"],
        }
        grid["ponta" if peak else "fora"] += D(row["gridImportKwh"])
    share = D(profile["productionShare"])
    icms = [cents(D(i["icmsBaseBrl"]) * D(i["icmsRate"])) for i in nfe]
    credit = [cents(v * share) for v in icms] if profile["taxRegime"] != "simples" else [D(0)]
    pis = (
        [
            cents((D(i["totalBrl"]) - v) * D("0.0925") * share)
            for i, v in zip(nfe, icms, strict=True)
        ]
        if profile["taxRegime"] == "lucro_real"
        else [D(0)]
    )
    return {
        "intervals": n,
        "days": sorted(days),
        "ponta_kwh": grid["ponta"],
        "fora_kwh": grid["fora"],
        "ponta_cost": cents(grid["ponta"] * D(tariff["pricePeak"])),
        "fora_cost": cents(grid["fora"] * D(tariff["priceOffPeak"])),
        "icms_credit": sum(credit, D(0)),
        "pis_cofins": sum(pis, D(0)),
        "nfe": [(i["number"], i["accessKey"]) for i in nfe],
        "regime": profile["taxRegime"],
    }


def from_br(text: str) -> Decimal:
    return D(text.replace(".", "").replace(",", "."))


def pdf_text(blob: bytes) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(blob)).pages)


# -- the scheduled run ------------------------------------------------------------------------


@pytest.mark.procedure("E4", "day-1 schedule: previous month, every organization")
def test_new_year_run_reports_december_for_every_organization(run: Run) -> None:
    assert run.summary["status"] == "SUCCEEDED", run.summary
    assert run.summary["states"][-2:] == ["NotifyDone", "Done"]
    started = next(j for j in run.journal if j.text.startswith("schedule fiscal_report_monthly"))
    assert started.data["input"]["scheduledTime"] == "2027-01-01T06:00:00Z"
    plan = next(r for r in run.audit if r["action"] == "fiscal_plan")
    assert json.loads(plan["details"])["organizations"] == list(ORGS)
    assert "run for 2026-12" in plan["why"]
    assert set(run.reports) == {
        f"reports/{o}/2026-12/fiscal-report.{f}" for o in ORGS for f in ("pdf", "csv")
    }


def test_only_the_local_month_is_counted(run: Run) -> None:
    rows = list(csv.reader(io.StringIO(run.stored("org-123", "csv").decode())))
    daily = sorted({r[1] for r in rows if r[0] == "daily"})
    assert daily[0] == "2026-12-01" and daily[-1] == "2026-12-31" and len(daily) == 31
    intervals = sum(int(r[3]) for r in rows if r[0] == "tariff_period" and r[2] == "intervals")
    assert intervals == 31 * 96 == expected(run, "org-123")["intervals"]
    grid = {r[1]: D(r[3]) for r in rows if r[0] == "tariff_period" and r[2] == "grid import"}
    exp = expected(run, "org-123")
    assert (grid["ponta"], grid["fora_ponta"]) == (exp["ponta_kwh"], exp["fora_kwh"])


@pytest.mark.procedure("E4", "ICMS credit memo, NF-e proof, tariff periods (Presumido, Real)")
@pytest.mark.parametrize("org", ["org-789", "org-456"])
def test_pdf_figures_match_an_independent_calculation(run: Run, org: str) -> None:
    text = pdf_text(run.stored(org, "pdf"))
    exp = expected(run, org)
    ponta = re.search(r"Custo ponta: ([\d.,]+) kWh x R\$ ([\d.,]+) = R\$ ([\d.,]+)", text)
    fora = re.search(r"Custo fora de ponta: ([\d.,]+) kWh x R\$ ([\d.,]+) = R\$ ([\d.,]+)", text)
    assert ponta and fora, text[:2000]
    assert from_br(ponta[1]) == exp["ponta_kwh"] and from_br(ponta[3]) == exp["ponta_cost"]
    assert from_br(fora[1]) == exp["fora_kwh"] and from_br(fora[3]) == exp["fora_cost"]
    # the arithmetic shown is itself right: kWh x price = cost
    assert cents(from_br(ponta[1]) * from_br(ponta[2])) == from_br(ponta[3])
    credit = re.search(r"ICMS do per.odo: R\$ ([\d.,]+)", text)
    assert credit and from_br(credit[1]) == exp["icms_credit"] > 0
    for number, key in exp["nfe"]:
        assert f"{number}/1" in text and key in text, f"NF-e {number} not referenced"
    assert "Autoconsumo comprovado" in text
    if exp["regime"] == "lucro_real":
        pis = re.search(r"PIS/COFINS do per.odo: R\$ ([\d.,]+)", text)
        assert "Lucro Real" in text and pis and from_br(pis[1]) == exp["pis_cofins"] > 0
    else:
        assert "Lucro Presumido" in text and "PIS/COFINS do per" not in text


@pytest.mark.procedure("E4", "Simples Nacional regime")
def test_simples_nacional_takes_no_credit_in_pdf_or_csv(run: Run) -> None:
    text = pdf_text(run.stored("org-123", "pdf"))
    assert "Simples Nacional" in text and "R$ 0,00 (Simples Nacional)" in text
    rows = list(csv.DictReader(io.StringIO(run.stored("org-123", "csv").decode())))
    totals = {r["description"]: D(r["amount_brl"]) for r in rows if r["section"] == "total"}
    assert totals["ICMS credit"] == D(0) and totals["PIS/COFINS credit"] == D(0)
    exp = expected(run, "org-123")
    by = {(r["section"], r["reference"], r["description"]): r for r in rows}
    assert D(by[("tariff_period", "ponta", "grid import")]["quantity"]) == exp["ponta_kwh"]
    assert D(by[("tariff_period", "fora_ponta", "grid import")]["amount_brl"]) == exp["fora_cost"]


def report_csv(run: Run, org: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(run.stored(org, "csv").decode())))


def day_peak_window_kwh(run: Run, org: str, day: str) -> Decimal:
    """The grid import of `day` inside the peak window, from the raw export."""
    tariff = json.loads(run.data[f"orgs/{org}/profile.json"])["tariff"]
    total = D(0)
    for row in csv.DictReader(io.StringIO(run.raw(org))):
        local = datetime.fromisoformat(row["start"]).astimezone(BRT)
        if f"{local:%Y-%m-%d}" == day and peak_window(local, tariff):
            total += D(row["gridImportKwh"])
    return total


@pytest.mark.procedure("E4", "holiday on a weekday billed off-peak")
def test_a_national_holiday_on_a_weekday_is_off_peak(run: Run) -> None:
    """Runbook 000 §4: o relatório inclui o "Histórico de transações com horário-tarifário".
    Natal (25/12/2026, a Friday) is a national holiday: no *ponta* that day. org-456 lists no
    holiday of its own; the national calendar applies anyway, so the month's *ponta* is the
    weekdays' peak window less exactly that day's peak-window import (341 kWh before)."""
    rows = report_csv(run, "org-456")
    daily = {(r[1], r[2]): D(r[3]) for r in rows if r[0] == "daily"}
    christmas = day_peak_window_kwh(run, "org-456", "2026-12-25")
    assert christmas > 300  # the 341 kWh once billed at the peak rate
    assert daily[("2026-12-25", "grid import ponta")] == 0
    assert daily[("2026-12-24", "grid import ponta")] > 0  # the day before is a working day
    day_total = sum(
        (
            D(r["gridImportKwh"])
            for r in csv.DictReader(io.StringIO(run.raw("org-456")))
            if f"{datetime.fromisoformat(r['start']).astimezone(BRT):%Y-%m-%d}" == "2026-12-25"
        ),
        D(0),
    )
    assert daily[("2026-12-25", "grid import fora_ponta")] == day_total
    tariff = json.loads(run.data["orgs/org-456/profile.json"])["tariff"]
    weekdays_window = sum(
        (
            D(r["gridImportKwh"])
            for r in csv.DictReader(io.StringIO(run.raw("org-456")))
            if peak_window(datetime.fromisoformat(r["start"]).astimezone(BRT), tariff)
        ),
        D(0),
    )
    grid = {r[1]: D(r[3]) for r in rows if r[0] == "tariff_period" and r[2] == "grid import"}
    assert grid["ponta"] == weekdays_window - christmas
    text = pdf_text(run.stored("org-456", "pdf"))
    assert "exceto feriados 2026-12-25" in text


@pytest.mark.procedure("E4", "organization's own holiday billed off-peak")
def test_an_organizations_municipal_holiday_is_off_peak_too(run: Run) -> None:
    """Runbook 000 §4: "Histórico de transações com horário-tarifário". A municipal holiday
    in the organization's record (org-123, Belo Horizonte, 08/12) adds to the national ones."""
    daily = {(r[1], r[2]): D(r[3]) for r in report_csv(run, "org-123") if r[0] == "daily"}
    assert day_peak_window_kwh(run, "org-123", MUNICIPAL_HOLIDAY) > 0
    assert daily[(MUNICIPAL_HOLIDAY, "grid import ponta")] == 0
    assert daily[("2026-12-25", "grid import ponta")] == 0
    assert daily[("2026-12-07", "grid import ponta")] > 0
    text = pdf_text(run.stored("org-123", "pdf"))
    assert f"exceto feriados {MUNICIPAL_HOLIDAY}, 2026-12-25" in text


@pytest.mark.procedure("E4", "download the report")
def test_each_organization_gets_a_time_limited_link_to_its_encrypted_report(run: Run) -> None:
    sent = [n for n in run.notifications if n["level"] == "reports"]
    assert sorted(n["message"]["organizationId"] for n in sent) == list(ORGS)
    msg = next(n["message"] for n in sent if n["message"]["organizationId"] == "org-789")
    assert msg["period"] == "2026-12" and {d["format"] for d in msg["downloads"]} == {"pdf", "csv"}
    pdf = next(d for d in msg["downloads"] if d["format"] == "pdf")
    query = parse_qs(urlparse(pdf["url"]).query)
    assert query["X-Amz-Expires"] == ["21600"] and query["versionId"] == [pdf["versionId"]]
    assert run.fetched[pdf["url"]] == run.stored("org-789", "pdf")
    assert {h["ServerSideEncryption"] for h in run.heads.values()} == {"AES256"}
    assert datetime.fromisoformat(pdf["expiresAt"]) > datetime(2027, 1, 1, 6, tzinfo=UTC)


# -- failures, manual runs, re-runs ----------------------------------------------------------


@pytest.mark.procedure("E4", "one organization fails: escalated, others complete")
def test_one_failing_organization_is_escalated_and_the_others_complete(
    jobs_spec: spec_mod.Spec, jobs_world_spec: WorldSpec
) -> None:
    p = start(jobs_spec, fiscal_world(jobs_world_spec))
    try:
        p.client("s3").delete_object(Bucket=p.buckets["data"], Key="orgs/org-456/nfe/2026-12.json")
        arn = fire(p, "fiscal_report_monthly", NEW_YEAR_RUN)
        p.wait([arn], timeout=120)
        run = p.execution_summary(arn)
        assert run["status"] == "FAILED" and run["error"] == "selfheal.ItemsFailed"
        keys = {
            o["Key"]
            for o in p.client("s3").list_objects_v2(Bucket=p.buckets["reports"])["Contents"]
        }
        assert {k.split("/")[1] for k in keys} == {"org-123", "org-789"}
        pages = [n for n in p.notifications() if "ESCALATION" in (n["subject"] or "")]
        org_page = next(n for n in pages if "org-456" in n["message"]["reason"])
        assert org_page["level"] == "l1" and "NothingFound" in org_page["message"]["reason"]
        assert "the other organizations continue" in org_page["message"]["reason"]
        run_pages = [n for n in pages if "1 failed" in n["message"]["reason"]]
        assert {n["level"] for n in run_pages} == {"ops", "l1"}
        failed = [r for r in p.audit_records(arn) if r.get("outcome") == "FAILED"]
        assert any(r["incidentId"].endswith("-org-456") for r in failed)
        delivered = [r for r in p.audit_records(arn) if r["action"] == "deliver_report"]
        assert len(delivered) == 2 and all(r["outcome"] == "FIXED" for r in delivered)
        check_tolerated_failure_limit()
    finally:
        p.__exit__(None, None, None)


@pytest.mark.procedure("E4", "manual generation")
@pytest.mark.procedure("E4", "idempotent per organization and period")
def test_manual_runs_are_idempotent_and_a_changed_source_is_a_new_version(
    jobs_spec: spec_mod.Spec, jobs_world_spec: WorldSpec
) -> None:
    p = start(jobs_spec, fiscal_world(jobs_world_spec))
    try:
        p.clock.advance_to(datetime(2027, 1, 2, 12, tzinfo=UTC))
        request = {"organizationId": "org-789", "period": "2026-12", "format": "csv"}
        versions = []
        for _ in range(2):
            arn = p.start_manual("fiscal_report", request)
            p.wait([arn], timeout=60)
            assert p.execution_summary(arn)["status"] == "SUCCEEDED"
            versions.append(
                json.loads(
                    next(
                        r["details"] for r in p.audit_records(arn) if r["action"] == "store_report"
                    )
                )
            )
        assert versions[0]["changed"] and not versions[1]["changed"]
        assert versions[0]["versionId"] == versions[1]["versionId"]
        first = stored(p, "org-789", "csv")

        # The EMS corrects one reading: the next run writes a new version, the old one stays.
        key = "orgs/org-789/transactions/2026-12.csv"
        text = raw(p, "org-789", "2026-12").replace(",bess-456,", ",bess-456,1", 1)
        p.client("s3").put_object(Bucket=p.buckets["data"], Key=key, Body=text.encode())
        arn = p.start_manual("fiscal_report", request)
        p.wait([arn], timeout=60)
        third = json.loads(
            next(r["details"] for r in p.audit_records(arn) if r["action"] == "store_report")
        )
        assert third["changed"] and third["previousVersionId"] == versions[0]["versionId"]
        listed = p.client("s3").list_object_versions(
            Bucket=p.buckets["reports"], Prefix="reports/org-789/2026-12/fiscal-report.csv"
        )["Versions"]
        assert len(listed) == 2
        assert stored(p, "org-789", "csv", VersionId=versions[0]["versionId"]) == first
        assert stored(p, "org-789", "csv") != first
        store = next(r for r in p.audit_records(arn) if r["action"] == "store_report")
        assert "new version, previous kept" in store["result"]
    finally:
        p.__exit__(None, None, None)


@pytest.mark.procedure("E4", "manual request with bad input")
def test_bad_manual_input_fails_at_once_naming_the_field(
    jobs_spec: spec_mod.Spec, jobs_world_spec: WorldSpec
) -> None:
    p = start(jobs_spec, fiscal_world(jobs_world_spec))
    try:
        p.clock.advance_to(datetime(2027, 1, 2, 12, tzinfo=UTC))
        good = {"organizationId": "org-789", "period": "2026-12", "format": "pdf"}
        cases = {
            "period": {**good, "period": "2026-13"},
            "format": {**good, "format": "docx"},
            "organizationId": {**good, "organizationId": "org-nobody"},
            "period: 2027-01 is not over": {**good, "period": "2027-01"},
            "force": {**good, "force": True},
        }
        arns = {field: p.start_manual("fiscal_report", payload) for field, payload in cases.items()}
        p.wait(list(arns.values()), timeout=60)
        for field, arn in arns.items():
            run = p.execution_summary(arn)
            assert run["status"] == "FAILED" and run["states"] == [
                "Claim",
                "IsDuplicate",
                "Plan",
                "EscalateFailure",
                "Failed",
            ], field
            why = next(a["why"] for a in run["actions"] if a["outcome"] == "FAILED")
            assert "InputInvalid" in why and field in why, why
        assert "Contents" not in p.client("s3").list_objects_v2(Bucket=p.buckets["reports"])
    finally:
        p.__exit__(None, None, None)


@pytest.mark.procedure("E4", "day-1 schedule: previous month, every organization")
@pytest.mark.procedure("E4", "unfinished month: refused naming the period")
def test_a_scheduled_run_for_a_month_not_over_is_refused_naming_the_period(
    jobs_spec: spec_mod.Spec, jobs_world_spec: WorldSpec
) -> None:
    """A scheduled run reports the month before its fire time; fired (or started with a
    `scheduledTime`) on 20 January for 1 February, that is January, which is not over:
    refused naming the period, escalated, and nothing reported."""
    p = start(jobs_spec, fiscal_world(jobs_world_spec))
    try:
        p.clock.advance_to(datetime(2027, 1, 20, 12, tzinfo=UTC))
        arn = p.start_manual(
            "fiscal_report",
            {"trigger": "schedule", "scheduledTime": "2027-02-01T06:00:00Z"},
        )
        p.wait([arn], timeout=60)
        run = p.execution_summary(arn)

        assert run["status"] == "FAILED", run
        assert run["states"] == ["Claim", "IsDuplicate", "Plan", "EscalateFailure", "Failed"]
        why = next(a["why"] for a in run["actions"] if a["outcome"] == "FAILED")
        assert "InputInvalid" in why and "period: 2027-01 is not over yet" in why, why
        assert "scheduledTime 2027-02-01T06:00:00Z" in why, why
        assert not [r for r in p.audit_records() if r["action"] == "fiscal_plan"], "no plan"
        assert "Contents" not in p.client("s3").list_objects_v2(Bucket=p.buckets["reports"])
    finally:
        p.__exit__(None, None, None)


def check_tolerated_failure_limit() -> None:
    """The ledger the Map's items consult: within the limit items go on, past it they are
    not attempted (on a live pipeline's table, with a run id of its own)."""
    from selfheal_shared.core import fanout

    fanout.open_run("probe", automation="fiscal_report", total=10, tolerated_failures=2)
    for org in ("a", "b", "b"):  # a retried report of "b" counts once
        fanout.record_failure("probe", org)
    assert fanout.may_proceed("probe") == (True, "")
    fanout.record_failure("probe", "c")
    ok, why = fanout.may_proceed("probe")
    assert not ok and "3 items of this run already failed, over the tolerated 2 of 10" in why
    tally = fanout.summarize(
        "probe",
        [{"outcome": "FAILED", "item": x} for x in "abc"]
        + [{"outcome": "SKIPPED_BY_GUARD", "item": "d"}],
    )
    assert (
        tally["overLimit"] and tally["outcome"] == "FAILED" and tally["failed"] == ["a", "b", "c"]
    )
