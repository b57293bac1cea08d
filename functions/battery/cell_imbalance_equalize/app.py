"""Runbook 000 §5b "Executar equalização": page L1 (P1), then send the equalize command to
the edge's agent. The restart lock and the E-Stop are read again right before: a system
under either is never equalized."""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, Field
from selfheal_shared.battery import battery
from selfheal_shared.battery.cell_imbalance import AUTOMATION
from selfheal_shared.battery.incident import Incident, scopes
from selfheal_shared.core import clock
from selfheal_shared.core.clients import client
from selfheal_shared.core.outcomes import Outcome
from selfheal_shared.core.protocol import Run, remediator


class EqualizeRequest(BaseModel):
    incident: Incident
    deltaMv: int = Field(gt=battery.IMBALANCE_LIMIT_MV)


@remediator(
    EqualizeRequest,
    actor="cell_imbalance_equalize",
    automation=AUTOMATION,
    what="equalize request",
    scopes=lambda r: scopes(r.incident),
)
def handler(run: Run[EqualizeRequest]) -> dict[str, Any]:
    req = run.request
    inc = req.incident
    _page(run)
    if blocked := battery.blocker(inc.edgeId):
        run.record(
            "edge_equalize",
            why=blocked,
            result=f"not sent: a system under a restart lock or E-Stop is never equalized "
            f"(delta {req.deltaMv} mV)",
            outcome=Outcome.SKIPPED_BY_GUARD,
        )
        return {"sent": False, "commandId": None, "issuedAt": None, "reason": blocked}
    command_id = f"equalize-{run.effect_key('edge_equalize', inc.edgeId)}"
    topic = f"lifo4/{inc.edgeId}/commands/equalize"

    def send(_key: str) -> str:
        issued = clock.now().isoformat()
        body = {
            "commandId": command_id,
            "command": "equalize",
            "issuedAt": issued,
            "incidentId": inc.incidentId,
        }
        client("iot-data").publish(topic=topic, qos=1, payload=json.dumps(body).encode())
        return issued

    issued = run.act(
        "edge_equalize",
        target=inc.edgeId,
        why=f"delta {req.deltaMv} mV > {battery.IMBALANCE_LIMIT_MV} mV (runbook 000 §5b)",
        plan=f"send equalize ({command_id}) to {topic}",
        do=send,
        landed=lambda _key: None,  # a publish leaves no trace; the edge acts on an id once
        result=f"sent equalize ({command_id}) to {topic}",
        inverse={"note": "none: equalization ends by itself when the cells are balanced"},
    )
    return {"sent": True, "commandId": command_id, "issuedAt": issued, "reason": ""}


def _page(run: Run[EqualizeRequest]) -> None:
    """The page due at minute 0 on the severity's clock (runbook 000 §6: P1 < 15 min)."""
    inc = run.request.incident
    battery.page(
        run,
        inc,
        subject=f"cell imbalance {run.request.deltaMv} mV",
        summary=f"CELL_VOLTAGE_IMBALANCE on {inc.edgeId}: delta {run.request.deltaMv} mV",
        why=f"{inc.severity} alarm: its first page is due at once (runbook 000 §6)",
    )
