"""Runbook 000 §5a "Acionar manutenção preventiva": page maintenance on the severity's
schedule (P1: L1 at once, runbook 000 §6), saying what was verified so far."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel
from selfheal_shared import edges, notify
from selfheal_shared.cell_imbalance import Incident
from selfheal_shared.outcomes import Outcome
from selfheal_shared.over_temperature import AUTOMATION
from selfheal_shared.protocol import Run, recorded_steps, remediator


class PageRequest(BaseModel):
    incident: Incident


@remediator(PageRequest, actor="over_temperature_page", automation=AUTOMATION, what="page")
def handler(run: Run[PageRequest]) -> dict[str, Any]:
    inc = run.request.incident
    level, _ = edges.page_due(inc.severity, 0, [])
    level = level or "ops"
    notify.publish(
        level,
        subject=f"[selfheal] {inc.severity} {inc.edgeId} OVER_TEMPERATURE: maintenance",
        message={
            "incidentId": inc.incidentId,
            "automation": AUTOMATION,
            "severity": inc.severity,
            "summary": f"OVER_TEMPERATURE on {inc.edgeId}: check the cooling (thermal "
            "cameras); preventive maintenance requested; restart locked",
            "maintenance": True,
            "done": recorded_steps(inc.incidentId),
        },
    )
    run.record(
        "page_maintenance",
        why=f"{inc.severity}: runbook 000 §5a 'Acionar manutenção preventiva'",
        result=f"paged {level}",
        outcome=Outcome.ESCALATED,
    )
    return {"paged": level}
