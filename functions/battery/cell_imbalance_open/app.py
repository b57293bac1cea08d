"""Open a cell-imbalance incident and read the cells (runbook 000 §5b "Ver detalhes de
células"): the verdict is `equalize` (delta > 200 mV), `within` (record and close),
`blocked` (a restart lock or an active E-Stop: never equalize), `stale` (no reading fresher
than `battery.FRESH_FOR`: cannot confirm, people are paged, nothing is closed) or
`silenced` (an operator's silence, runbook 000 §6: no page and no equalize until it ends;
then the workflow reads the cells again and decides from that reading)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from selfheal_shared.battery import battery
from selfheal_shared.battery.cell_imbalance import AUTOMATION, AlarmDetail
from selfheal_shared.battery.incident import open_incident, scopes
from selfheal_shared.core import clock, refusals
from selfheal_shared.core.handler import remediator
from selfheal_shared.core.outcomes import Outcome
from selfheal_shared.edge import edge_registry

#: Look again at least this often: a longer silence is waited out in steps (as the edge
#: ladder's `edge_silenced` does).
MAX_WAIT_SECONDS = 3600


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
    now = clock.now()
    edge = edge_registry.get(f"edge#{alarm.edgeId}") or {}
    read = battery.reading(edge, "cellsMv", "cellsAt", now)
    values = battery.cells(edge) if read.fresh else []
    delta = battery.delta_mv(values)
    limit = battery.IMBALANCE_LIMIT_MV
    wait = 0
    quiet = None
    if read.fresh and delta <= limit:
        verdict, reason = "within", f"delta {delta} mV <= {limit} mV: no equalization needed"
    elif quiet := refusals.quiet([alarm.edgeId, *scopes(incident)]):
        left = (datetime.fromisoformat(quiet["endsAt"]) - now).total_seconds()
        wait = max(1, min(MAX_WAIT_SECONDS, int(left) + 1))
        verdict, reason = (
            "silenced",
            (
                f"silenced on {quiet['scope']} until {quiet['endsAt']} "
                f"({quiet.get('reason', '')}): no page, no equalize; the cells are read again "
                "when it ends"
            ),
        )
    elif not read.fresh:
        verdict, reason = "stale", f"cannot confirm the cells: {read.describe()}"
    elif blocked := battery.blocker(alarm.edgeId):
        verdict, reason = "blocked", f"delta {delta} mV > {limit} mV but not equalized: {blocked}"
    else:
        verdict, reason = "equalize", f"delta {delta} mV > {limit} mV: equalization due"
    run.record(
        "cells_read",
        why=f"{alarm.severity} CELL_VOLTAGE_IMBALANCE raised at {alarm.raisedAt} (runbook 000 §5b)",
        result=f"{len(values)} fresh cells, delta {delta} mV ({read.describe()}); " + reason,
        outcome=Outcome.SKIPPED_BY_GUARD if quiet else None,
        details={"deltaMv": delta, "verdict": verdict, "fresh": read.fresh},
    )
    return {
        "incident": incident.model_dump(),
        "verdict": verdict,
        "deltaMv": delta,
        "reason": reason,
        "waitSeconds": wait,
    }
