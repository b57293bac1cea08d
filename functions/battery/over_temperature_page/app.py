"""Runbook 000 §5a "Acionar manutenção preventiva": page maintenance on the severity's
schedule (P1: L1 at once, runbook 000 §6), saying what was verified so far."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel
from selfheal_shared.battery import battery
from selfheal_shared.battery.incident import Incident, scopes
from selfheal_shared.battery.over_temperature import AUTOMATION
from selfheal_shared.core.protocol import Run, remediator


class PageRequest(BaseModel):
    incident: Incident


@remediator(
    PageRequest,
    actor="over_temperature_page",
    automation=AUTOMATION,
    what="page",
    scopes=lambda r: scopes(r.incident),
)
def handler(run: Run[PageRequest]) -> dict[str, Any]:
    return {"paged": battery.page_maintenance(run, run.request.incident)}
