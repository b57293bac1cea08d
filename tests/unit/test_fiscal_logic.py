"""The fiscal report's arithmetic (selfheal_shared.reports.fiscal), checked on data small enough to
compute by hand, and the manual-input schema's errors. No moto needed."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

import pytest
from selfheal_shared.core import fanout, input_schema, national_calendar
from selfheal_shared.core.errors import InputInvalid
from selfheal_shared.reports import fiscal

D = Decimal
BRT = fiscal.FISCAL_TZ
TARIFF = fiscal.Tariff(
    peakStart=time(18),
    peakEnd=time(21),
    pricePeak=D("2.00"),
    priceOffPeak=D("0.50"),
    holidays=[date(2026, 12, 25)],
)


def profile(regime: str = "lucro_real", share: str = "0.90") -> fiscal.OrgProfile:
    return fiscal.OrgProfile(
        organizationId="org-1",
        name="Teste Ltda",
        cnpj="12.345.678/0001-95",
        uf="SP",
        taxRegime=regime,
        icmsRate=D("0.18"),
        productionShare=D(share),
        tariff=TARIFF,
        systems=["s1"],
    )


def iv(
    local: datetime, grid: str, charge: str = "0", dis: str = "0", load: str = "0"
) -> fiscal.Interval:
    return fiscal.Interval(local.replace(tzinfo=BRT), "s1", D(grid), D(charge), D(dis), D(load))


def invoice(kwh: str, base: str, icms: str, number: str = "123") -> fiscal.Invoice:
    key = fiscal.access_key(
        uf_code=35,
        issued=date(2027, 1, 4),
        cnpj="12.345.678/0001-95",
        series="1",
        number=number,
        code="42",
    )
    return fiscal.Invoice(
        number=number,
        series="1",
        accessKey=key,
        issuedOn=date(2027, 1, 4),
        systemId="s1",
        kwh=D(kwh),
        totalBrl=D(base),
        icmsBaseBrl=D(base),
        icmsRate=D("0.18"),
        icmsBrl=D(icms),
    )


# -- periods and tariff windows -------------------------------------------------------------


@pytest.mark.parametrize(
    ("at", "period"),
    [
        (datetime(2027, 1, 1, 6, 0, tzinfo=UTC), "2026-12"),  # 03:00 in Brasilia, day 1
        (datetime(2027, 1, 1, 2, 30, tzinfo=UTC), "2026-11"),  # still Dec 31 in Brasilia
        (datetime(2026, 3, 1, 6, 0, tzinfo=UTC), "2026-02"),
    ],
    ids=["year-boundary", "utc-already-january", "february"],
)
def test_previous_period_is_the_month_before_in_brasilia(at: datetime, period: str) -> None:
    assert fiscal.previous_period(at) == period


def test_period_bounds_cover_exactly_the_month_in_local_time() -> None:
    start, end = fiscal.period_bounds("2026-12")
    assert start == datetime(2026, 12, 1, tzinfo=BRT)
    assert end == datetime(2027, 1, 1, tzinfo=BRT)
    assert (end - start) == timedelta(days=31)
    assert start.astimezone(UTC) == datetime(2026, 12, 1, 3, tzinfo=UTC)


@pytest.mark.parametrize("bad", ["2026-13", "2026-1", "26-01", "", "2026-00"])
def test_bad_period_names_the_field(bad: str) -> None:
    with pytest.raises(InputInvalid, match=r"^period: "):
        fiscal.parse_period(bad)


def test_an_unfinished_month_is_refused() -> None:
    with pytest.raises(InputInvalid, match="period: 2026-12 is not over yet"):
        fiscal.require_closed("2026-12", datetime(2026, 12, 31, 23, tzinfo=UTC))
    fiscal.require_closed("2026-12", datetime(2027, 1, 1, 3, 0, 1, tzinfo=UTC))


@pytest.mark.parametrize(
    ("local", "expected"),
    [
        (datetime(2026, 12, 14, 18, 0), "ponta"),  # Monday, start inclusive
        (datetime(2026, 12, 14, 20, 45), "ponta"),
        (datetime(2026, 12, 14, 21, 0), "fora_ponta"),  # end exclusive
        (datetime(2026, 12, 14, 17, 45), "fora_ponta"),
        (datetime(2026, 12, 19, 19, 0), "fora_ponta"),  # Saturday
        (datetime(2026, 12, 25, 19, 0), "fora_ponta"),  # Friday, holiday
    ],
)
def test_tariff_period_is_peak_window_on_weekdays_only(local: datetime, expected: str) -> None:
    at = local.replace(tzinfo=BRT).astimezone(UTC)  # the rule works in local time
    assert fiscal.tariff_period(at, TARIFF) == expected


def test_national_holidays_come_from_the_library_calendar() -> None:
    """Movable feasts and recent laws included: Good Friday 2026 is 3 April, and
    20 November (Lei 14.759/2023) is national since 2024."""
    year = national_calendar.national_holidays(date(2026, 1, 1), date(2027, 1, 1))
    assert {date(2026, 4, 3), date(2026, 11, 20), date(2026, 12, 25)} <= set(year)
    assert national_calendar.national_holidays(date(2026, 12, 1), date(2027, 1, 1)) == {
        date(2026, 12, 25): year[date(2026, 12, 25)]
    }
    assert national_calendar.national_holidays(date(2026, 8, 1), date(2026, 9, 1)) == {}


def test_billing_tariff_adds_the_national_holidays_to_the_organizations_own() -> None:
    """A municipal holiday listed by the organization stays; the month's national ones join."""
    own = TARIFF.model_copy(update={"holidays": [date(2026, 12, 8)]})
    billed = fiscal.billing_tariff(own, "2026-12")
    assert billed.holidays == [date(2026, 12, 8), date(2026, 12, 25)]
    assert own.holidays == [date(2026, 12, 8)]  # the organization's record is not changed
    friday = datetime(2026, 12, 25, 19, 0, tzinfo=BRT)
    assert fiscal.tariff_period(friday, own) == "ponta"
    assert fiscal.tariff_period(friday, billed) == "fora_ponta"
    assert fiscal.tariff_period(datetime(2026, 12, 8, 19, 0, tzinfo=BRT), billed) == "fora_ponta"


def test_report_bills_a_weekday_national_holiday_off_peak() -> None:
    """The organization lists no holiday; Christmas 2026 (a Friday) is still fora de ponta."""
    bare = profile().model_copy(update={"tariff": TARIFF.model_copy(update={"holidays": []})})
    rows = [iv(datetime(2026, 12, 25, 19, 0), "10"), iv(datetime(2026, 12, 24, 19, 0), "4")]
    r = fiscal.build_report(bare, "2026-12", rows, [], "d")
    assert r.totals["ponta"].gridImportKwh == D("4.000")
    assert r.totals["fora_ponta"].gridImportKwh == D("10.000")
    assert date(2026, 12, 25) in r.profile.tariff.holidays


def test_peak_window_must_end_after_it_starts() -> None:
    with pytest.raises(ValueError, match="peakEnd must be after peakStart"):
        fiscal.Tariff(peakStart=time(18), peakEnd=time(17), pricePeak=1, priceOffPeak=1)


# -- NF-e access key ------------------------------------------------------------------------


def test_access_key_check_digit_by_hand() -> None:
    # 43 ones, weights 2..9 repeating from the right: 5 x (2+...+9) + 2+3+4 = 229;
    # 229 mod 11 = 9 -> 11 - 9 = 2
    assert fiscal.access_key_check_digit("1" * 43) == 2
    assert fiscal.access_key_check_digit("0" * 43) == 0


def test_access_key_layout_and_validation() -> None:
    key = fiscal.access_key(
        uf_code=35,
        issued=date(2027, 1, 4),
        cnpj="12.345.678/0001-95",
        series="1",
        number="4567",
        code="89",
    )
    assert len(key) == 44 and key.startswith("35" + "2701" + "12345678000195" + "55" + "001")
    assert key[25:34] == "000004567"
    assert fiscal.access_key_valid(key)
    broken = key[:10] + str((int(key[10]) + 1) % 10) + key[11:]
    assert not fiscal.access_key_valid(broken)


# -- the report -----------------------------------------------------------------------------


def small_month() -> list[fiscal.Interval]:
    monday, saturday = datetime(2026, 12, 14), datetime(2026, 12, 19)
    return [
        iv(monday.replace(hour=2), grid="30", charge="20", load="10"),  # night: charge
        iv(monday.replace(hour=18), grid="5", dis="15", load="20"),  # peak: discharge
        iv(monday.replace(hour=18, minute=15), grid="4", dis="16", load="20"),
        iv(saturday.replace(hour=19), grid="12", load="12"),  # weekend: off-peak
        iv(datetime(2026, 11, 30, 19), grid="999", load="999"),  # other month: ignored
    ]


def test_report_splits_by_tariff_period_and_prices_each() -> None:
    r = fiscal.build_report(
        profile(), "2026-12", small_month(), [invoice("51", "100.00", "18.00")], "digest"
    )
    ponta, fora = r.totals["ponta"], r.totals["fora_ponta"]
    assert (ponta.intervals, fora.intervals) == (2, 2)
    assert ponta.gridImportKwh == D("9.000") and fora.gridImportKwh == D("42.000")
    assert ponta.dischargeKwh == D("31.000") and fora.chargeKwh == D("20.000")
    assert ponta.gridCostBrl == D("18.00") and fora.gridCostBrl == D("21.00")  # 9x2, 42x0.5
    assert r.avoidedPeakCostBrl == D("62.00")  # 31 kWh discharged at peak x 2.00
    assert r.intervals == 4 and r.meteredImportKwh == D("51.000") == r.invoicedKwh
    assert [d.day for d in r.daily] == [date(2026, 12, 14), date(2026, 12, 19)]
    assert r.daily[0].pontaKwh == D("9.000") and r.daily[0].foraPontaKwh == D("30.000")


def test_icms_memo_by_regime() -> None:
    inv = [invoice("51", "100.00", "18.00")]
    real = fiscal.build_report(profile("lucro_real"), "2026-12", small_month(), inv, "d")
    presumido = fiscal.build_report(profile("lucro_presumido"), "2026-12", small_month(), inv, "d")
    simples = fiscal.build_report(profile("simples"), "2026-12", small_month(), inv, "d")
    # ICMS = 100.00 x 18 % = 18.00; credit = 18.00 x 90 % = 16.20
    assert real.icms[0].computedIcmsBrl == D("18.00") and real.icms[0].matchesInvoice
    assert real.icmsCreditBrl == presumido.icmsCreditBrl == D("16.20")
    # Lucro Real only: (100.00 - 18.00) x 9.25 % x 90 % = 6.8265 -> 6.83
    assert real.pisCofinsCreditBrl == D("6.83")
    assert presumido.pisCofinsCreditBrl == D("0.00")
    assert simples.icmsCreditBrl == D("0.00") and simples.pisCofinsCreditBrl == D("0.00")
    assert "LC 123/2006" in simples.regime_rule and "9.25" in real.regime_rule


def test_self_consumption_proof_and_what_breaks_it() -> None:
    ok = fiscal.build_report(
        profile(), "2026-12", small_month(), [invoice("51", "100.00", "18.00")], "d"
    )
    assert ok.selfConsumedKwh == D("31.000") and ok.exportedKwh == D("0.000")
    assert ok.self_consumption_proven and ok.warnings == []

    exporting = [*small_month(), iv(datetime(2026, 12, 15, 19), grid="0", dis="8", load="5")]
    wrong = invoice("40", "100.00", "17.00")
    bad = fiscal.build_report(profile(), "2026-12", exporting, [wrong], "d")
    assert bad.exportedKwh == D("3.000") and bad.intervalsWithExport == 1
    assert not bad.self_consumption_proven
    assert any("differs from base x rate = R$ 18.00" in w for w in bad.warnings)
    assert any("differs from invoiced 40.000" in w for w in bad.warnings)


def test_no_readings_in_the_period_is_an_error_not_an_empty_report() -> None:
    with pytest.raises(InputInvalid, match="no readings for org-1 in 2027-01"):
        fiscal.build_report(profile(), "2027-01", small_month(), [], "d")


def test_csv_carries_the_same_figures() -> None:
    r = fiscal.build_report(
        profile(), "2026-12", small_month(), [invoice("51", "100.00", "18.00")], "abc"
    )
    rows = list(csv.DictReader(io.StringIO(fiscal.render_csv(r).decode())))
    by = {(x["section"], x["reference"], x["description"]): x for x in rows}
    assert D(by[("tariff_period", "ponta", "grid import")]["amount_brl"]) == D("18.00")
    assert D(by[("tariff_period", "fora_ponta", "grid import")]["quantity"]) == D("42.000")
    assert D(by[("total", "", "ICMS credit")]["amount_brl"]) == D("16.20")
    assert D(by[("total", "", "PIS/COFINS credit")]["amount_brl"]) == D("6.83")
    assert by[("header", "source_sha256", "abc")]


def test_parse_intervals_rejects_naive_times_and_negative_energy() -> None:
    head = "start,systemId,gridImportKwh,chargeKwh,dischargeKwh,loadKwh\n"
    with pytest.raises(InputInvalid, match="line 2: timestamp without a time zone"):
        fiscal.parse_intervals(head + "2026-12-01T00:00:00,s1,1,0,0,1\n")
    with pytest.raises(InputInvalid, match="line 2: negative energy"):
        fiscal.parse_intervals(head + "2026-12-01T00:00:00-03:00,s1,-1,0,0,1\n")


def test_brazilian_number_format() -> None:
    assert fiscal.br(D("1234567.891")) == "1.234.567,89"
    assert fiscal.br(D("0.5"), 3) == "0,500"
    assert fiscal.pct(D("0.0925")) == "9,25 %"


def test_source_digest_changes_with_any_input() -> None:
    a = fiscal.source_digest(b"profile", b"tx", b"nfe")
    assert a == fiscal.source_digest(b"profile", b"tx", b"nfe")
    assert a != fiscal.source_digest(b"profile", b"tx2", b"nfe")
    assert a != fiscal.source_digest(b"profiletx", b"", b"nfe")  # parts are length-prefixed


def test_pdf_is_byte_identical_for_the_same_figures() -> None:
    from selfheal_shared.reports.fiscal_pdf import render_pdf

    r = fiscal.build_report(
        profile(), "2026-12", small_month(), [invoice("51", "100.00", "18.00")], "d"
    )
    first, second = render_pdf(r), render_pdf(r)
    assert first.startswith(b"%PDF-") and first == second


# -- manual input schema --------------------------------------------------------------------

GOOD = {"organizationId": "org-789", "period": "2026-01", "format": "pdf"}


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ({**GOOD, "period": "2026-13"}, "period: data.period must match pattern"),
        ({**GOOD, "format": "xls"}, "format: data.format must be one of"),
        (
            {k: v for k, v in GOOD.items() if k != "organizationId"},
            "organizationId: required field missing",
        ),
        ({**GOOD, "force": True}, "force: unknown field"),
        ({**GOOD, "organizationId": 7}, "organizationId: data.organizationId must be string"),
    ],
    ids=["period", "format", "missing-org", "unknown-field", "org-type"],
)
def test_manual_input_errors_name_the_field(payload: dict, message: str) -> None:
    with pytest.raises(InputInvalid, match=f"invalid fiscal_report input: {message}"):
        input_schema.check("fiscal_report", payload)
    assert input_schema.check("fiscal_report", GOOD) == GOOD


def test_published_schema_is_the_one_validated() -> None:
    assert input_schema.schema_path("fiscal_report").parent.name == "state_machines"
    assert input_schema.schema_path("retrain_model").name == "retrain_model.input.schema.json"


@pytest.mark.parametrize(
    ("total", "pct", "tolerated"), [(3, 20, 1), (10, 25, 2), (4, 100, 4), (5, 0, 0), (0, 50, 0)]
)
def test_tolerated_failures(total: int, pct: float, tolerated: int) -> None:
    assert fanout.tolerated(total, pct) == tolerated
