"""The fiscal report as a PDF (fpdf2), with the arithmetic written out line by line.

Only `fiscal_render` imports this (it bundles fpdf2); the core Helvetica font is
Latin-1, which covers Portuguese. The creation date is fixed to the end of the period,
so the same figures give a byte-identical file.
"""

from __future__ import annotations

from decimal import Decimal

from fpdf import FPDF

from .fiscal import (
    PIS_COFINS_RATE,
    REGIME_LABEL,
    TARIFF_LABEL,
    TARIFF_PERIODS,
    FiscalReport,
    br,
    creation_date,
    pct,
)

LINE = 5.5


class _Doc(FPDF):
    def __init__(self, title: str) -> None:
        super().__init__(orientation="P", unit="mm", format="A4")
        self._title = title
        self.set_auto_page_break(auto=True, margin=15)
        self.set_margins(15, 15, 15)

    def footer(self) -> None:
        self.set_y(-12)
        self.set_font("Helvetica", size=7)
        self.cell(0, 5, f"{self._title} - p. {self.page_no()}/{{nb}}", align="C")


def _heading(pdf: FPDF, text: str) -> None:
    pdf.ln(2)
    pdf.set_font("Helvetica", "B", 11)
    pdf.cell(0, 7, text, new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", size=9)


def _text(pdf: FPDF, text: str) -> None:
    pdf.multi_cell(0, LINE, text, new_x="LMARGIN", new_y="NEXT")


def _row(pdf: FPDF, cells: list[str], widths: list[float], *, bold: bool = False) -> None:
    pdf.set_font("Helvetica", "B" if bold else "", 8)
    for i, (text, width) in enumerate(zip(cells, widths, strict=True)):
        pdf.cell(width, LINE, text, border=1, align="L" if i == 0 else "R")
    pdf.ln(LINE)
    pdf.set_font("Helvetica", size=9)


def render_pdf(report: FiscalReport) -> bytes:
    p = report.profile
    title = f"Relatorio fiscal {p.organizationId} {report.period}"
    pdf = _Doc(title)
    pdf.set_creation_date(creation_date(report.period))
    pdf.set_title(title)
    pdf.set_author("selfheal fiscal_report")
    pdf.add_page()
    pdf.set_font("Helvetica", "B", 14)
    pdf.cell(
        0,
        8,
        "Relatório Fiscal Mensal - Sistema de Armazenamento (BESS)",
        new_x="LMARGIN",
        new_y="NEXT",
    )
    pdf.set_font("Helvetica", size=9)
    _text(pdf, f"Organização: {p.name} ({p.organizationId})  CNPJ: {p.cnpj}  UF: {p.uf}")
    _text(
        pdf,
        f"Período: {report.period}  Intervalos de 15 min: {report.intervals}  "
        f"Sistemas: {', '.join(p.systems)}",
    )
    _text(pdf, f"Fonte (SHA-256): {report.sourceDigest}")

    _heading(pdf, "1. Regime tributário aplicado")
    _text(pdf, f"Regime: {REGIME_LABEL[p.taxRegime]}")
    _text(pdf, report.regime_rule)
    _text(
        pdf,
        f"Alíquota de ICMS: {pct(p.icmsRate)}  Participação na produção "
        f"(laudo técnico): {pct(p.productionShare)}",
    )

    _heading(pdf, "2. Histórico de transações por horário tarifário")
    t = p.tariff
    _text(
        pdf,
        f"Ponta: dias úteis, {t.peakStart:%H:%M}-{t.peakEnd:%H:%M} (horário de Brasília)"
        + (
            f", exceto feriados {', '.join(d.isoformat() for d in t.holidays)}"
            if t.holidays
            else ""
        )
        + "; demais horários: fora de ponta.",
    )
    widths = [34.0, 26.0, 26.0, 26.0, 26.0, 20.0, 22.0]
    _row(
        pdf,
        [
            "Posto",
            "Rede kWh",
            "Carga bat. kWh",
            "Descarga kWh",
            "Consumo kWh",
            "R$/kWh",
            "Custo rede R$",
        ],
        widths,
        bold=True,
    )
    for tp in TARIFF_PERIODS:
        s = report.totals[tp]
        _row(
            pdf,
            [
                TARIFF_LABEL[tp],
                br(s.gridImportKwh, 3),
                br(s.chargeKwh, 3),
                br(s.dischargeKwh, 3),
                br(s.loadKwh, 3),
                br(s.priceBrlPerKwh, 4),
                br(s.gridCostBrl),
            ],
            widths,
        )
    for tp in TARIFF_PERIODS:
        s = report.totals[tp]
        _text(
            pdf,
            f"Custo {TARIFF_LABEL[tp].lower()}: {br(s.gridImportKwh, 3)} kWh x "
            f"R$ {br(s.priceBrlPerKwh, 4)} = R$ {br(s.gridCostBrl)}",
        )
    _text(
        pdf,
        f"Custo de ponta evitado pela bateria: {br(report.totals['ponta'].dischargeKwh, 3)}"
        f" kWh x R$ {br(t.pricePeak, 4)} = R$ {br(report.avoidedPeakCostBrl)}",
    )
    pdf.ln(1)
    day_widths = [34.0, 40.0, 40.0, 40.0]
    _row(
        pdf,
        ["Dia", "Rede ponta kWh", "Rede fora ponta kWh", "Descarga ponta kWh"],
        day_widths,
        bold=True,
    )
    for d in report.daily:
        _row(
            pdf,
            [
                d.day.isoformat(),
                br(d.pontaKwh, 3),
                br(d.foraPontaKwh, 3),
                br(d.dischargePontaKwh, 3),
            ],
            day_widths,
        )

    _heading(pdf, "3. Comprovante de autoconsumo")
    nfe_widths = [20.0, 86.0, 22.0, 26.0, 26.0]
    _row(
        pdf, ["NF-e/série", "Chave de acesso", "Emissão", "kWh", "Valor R$"], nfe_widths, bold=True
    )
    for ln in report.icms:
        inv = ln.invoice
        _row(
            pdf,
            [
                f"{inv.number}/{inv.series}",
                inv.accessKey,
                inv.issuedOn.isoformat(),
                br(inv.kwh, 3),
                br(inv.totalBrl),
            ],
            nfe_widths,
        )
    _text(
        pdf,
        f"Energia descarregada e consumida no próprio estabelecimento: "
        f"{br(report.selfConsumedKwh, 3)} kWh; injetada na rede: "
        f"{br(report.exportedKwh, 3)} kWh ({report.intervalsWithExport} intervalos).",
    )
    _text(
        pdf,
        f"Importação medida: {br(report.meteredImportKwh, 3)} kWh; faturada nas NF-e "
        f"acima: {br(report.invoicedKwh, 3)} kWh.",
    )
    verdict = (
        "Autoconsumo comprovado: toda a energia da bateria foi consumida no local."
        if report.self_consumption_proven
        else "Autoconsumo NÃO comprovado: ver observações."
    )
    _text(pdf, verdict)

    _heading(pdf, "4. Memória de cálculo do crédito de ICMS")
    for ln in report.icms:
        inv = ln.invoice
        _text(
            pdf,
            f"NF-e {inv.number}/{inv.series}: base R$ {br(inv.icmsBaseBrl)} x "
            f"{pct(inv.icmsRate)} = ICMS R$ {br(ln.computedIcmsBrl)} (destacado "
            f"R$ {br(inv.icmsBrl)}{'' if ln.matchesInvoice else ' - DIVERGE'})",
        )
        if p.taxRegime == "simples":
            _text(pdf, "   crédito: R$ 0,00 (Simples Nacional)")
        else:
            _text(
                pdf,
                f"   crédito: R$ {br(ln.computedIcmsBrl)} x {pct(p.productionShare)} = "
                f"R$ {br(ln.creditBrl)}",
            )
        if p.taxRegime == "lucro_real":
            net = inv.totalBrl - ln.computedIcmsBrl
            _text(
                pdf,
                f"   PIS/COFINS: (R$ {br(inv.totalBrl)} - R$ {br(ln.computedIcmsBrl)}) x "
                f"{pct(PIS_COFINS_RATE)} x {pct(p.productionShare)} = "
                f"R$ {br(ln.pisCofinsCreditBrl)} (base R$ {br(net)})",
            )
    pdf.set_font("Helvetica", "B", 10)
    _text(pdf, f"Crédito de ICMS do período: R$ {br(report.icmsCreditBrl)}")
    if p.taxRegime == "lucro_real" or report.pisCofinsCreditBrl != Decimal(0):
        _text(pdf, f"Crédito de PIS/COFINS do período: R$ {br(report.pisCofinsCreditBrl)}")
    pdf.set_font("Helvetica", size=9)
    if report.warnings:
        _heading(pdf, "Observações")
        for w in report.warnings:
            _text(pdf, f"- {w}")
    return bytes(pdf.output())
