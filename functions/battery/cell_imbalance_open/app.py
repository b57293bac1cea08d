"""Open a cell-imbalance incident and read the cells (runbook 000 §5b "Ver detalhes de
células"): the verdict is `equalize` (delta > 200 mV), `within` (record and close),
`blocked` (a restart lock or an active E-Stop: never equalize) or `no_reading`."""

from __future__ import annotations

from typing import Any

from selfheal_shared.battery import battery
from selfheal_shared.battery.cell_imbalance import AUTOMATION, AlarmDetail
from selfheal_shared.battery.incident import open_incident
from selfheal_shared.core.handler import remediator
from selfheal_shared.edge import edge_registry


@remediator
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    run, alarm = open_incident(
        event,
        context,
        AlarmDetail,
        automation=AUTOMATION,
        actor="cell_imbalance_open",
        what="cell imbalance request",
    )
    incident = run.request
    edge = edge_registry.get(f"edge#{alarm.edgeId}") or {}
    values = battery.cells(edge)
    delta = battery.delta_mv(values)
    limit = battery.IMBALANCE_LIMIT_MV
    if not values:
        verdict, reason = "no_reading", f"{alarm.edgeId} has reported no cell voltages"
    elif delta <= limit:
        verdict, reason = "within", f"delta {delta} mV <= {limit} mV: no equalization needed"
    elif blocked := battery.blocker(alarm.edgeId):
        verdict, reason = "blocked", f"delta {delta} mV > {limit} mV but not equalized: {blocked}"
    else:
        verdict, reason = "equalize", f"delta {delta} mV > {limit} mV: equalization due"
    run.record(
        "cells_read",
        why=f"{alarm.severity} CELL_VOLTAGE_IMBALANCE raised at {alarm.raisedAt} (runbook 000 §5b)",
        result=f"{len(values)} cells, delta {delta} mV (read at {edge.get('cellsAt', 'never')}); "
        + reason,
        details={"deltaMv": delta, "verdict": verdict},
    )
    return {
        "incident": incident.model_dump(),
        "verdict": verdict,
        "deltaMv": delta,
        "reason": reason,
    }
