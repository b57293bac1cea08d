"""Open a cell-imbalance incident and read the cells (runbook 000 §5b "Ver detalhes de
células"): the verdict is `equalize` (delta > 200 mV), `within` (record and close),
`blocked` (a restart lock or an active E-Stop: never equalize) or `no_reading`."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field
from selfheal_shared import battery, edge_registry
from selfheal_shared.cell_imbalance import AUTOMATION, AlarmDetail, Incident
from selfheal_shared.handler import remediator
from selfheal_shared.models import parse
from selfheal_shared.protocol import begin


class OpenRequest(BaseModel):
    executionId: str = Field(min_length=1)
    event: dict[str, Any]


@remediator
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    req = parse(OpenRequest, event, "cell imbalance request")
    alarm = parse(AlarmDetail, req.event.get("detail"), "detail")
    incident = Incident(
        incidentId=battery.incident_id(AUTOMATION, alarm.edgeId, alarm.raisedAt),
        executionId=req.executionId,
        edgeId=alarm.edgeId,
        siteId=alarm.siteId,
        severity=alarm.severity,
        raisedAt=alarm.raisedAt,
    )
    run = begin(
        incident,
        actor="cell_imbalance_open",
        automation=AUTOMATION,
        incident_id=incident.incidentId,
        execution_id=req.executionId,
        context=context,
    )
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
