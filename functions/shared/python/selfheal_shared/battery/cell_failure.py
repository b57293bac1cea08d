"""Cell failure (runbook 000 §6: "P1 - CRITICAL | < 15 min | ... Cell failure"): the runbook
gives it a severity and nothing else, so it is recorded and paged on the P1 clock with the
cells read as the cell-imbalance workflow reads them ("Ver detalhes de células"), fresh
readings only; nothing is sent to the edge (no equalize: that is §5b's fix for an imbalance,
not for a failed cell). No I/O here: the caller passes the edge's registry record."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from . import battery

KIND = "CELL_FAILURE"


def reading(edge: dict[str, Any], now: datetime) -> dict[str, Any]:
    """The edge's cell voltages if fresh by the one battery rule (`battery.Reading`: no older
    than the reporting bound), with their spread and when they were read; `fresh` false
    (and no voltages) otherwise, saying why."""
    values = battery.cells(edge)
    cells = battery.reading(edge, "cellsMv", "cellsAt", now)
    if not values or cells.at is None:
        return {"fresh": False, "cellsMv": [], "summary": "no cell voltages reported"}
    at = cells.at.isoformat()
    if not cells.fresh:
        return {
            "fresh": False,
            "cellsMv": [],
            "readAt": at,
            "summary": f"no fresh cell reading ({cells.describe()})",
        }
    delta = battery.delta_mv(values)
    return {
        "fresh": True,
        "cellsMv": values,
        "readAt": at,
        "deltaMv": delta,
        "summary": f"{len(values)} cells read at {at}: min {min(values)} mV, max "
        f"{max(values)} mV, delta {delta} mV",
    }
