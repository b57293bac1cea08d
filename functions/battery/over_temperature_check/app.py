"""Verify the stop: acknowledged, and telemetry after the command shows no power flow."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field
from selfheal_shared.battery import battery
from selfheal_shared.battery.incident import Incident
from selfheal_shared.battery.over_temperature import AUTOMATION
from selfheal_shared.core import clock
from selfheal_shared.core.outcomes import Outcome
from selfheal_shared.core.protocol import Run, remediator
from selfheal_shared.edge import edge_registry


class CheckRequest(BaseModel):
    incident: Incident
    commandId: str = Field(min_length=1, max_length=128)
    issuedAt: str = Field(min_length=1)


@remediator(CheckRequest, actor="over_temperature_check", automation=AUTOMATION, what="check")
def handler(run: Run[CheckRequest]) -> dict[str, Any]:
    req = run.request
    ack = edge_registry.get(f"ack#{req.commandId}")
    edge = edge_registry.get(f"edge#{req.incident.edgeId}") or {}
    power = battery.reading(edge, "powerKw", "powerAt", clock.now())
    after = power.at is not None and power.at > datetime.fromisoformat(req.issuedAt)
    if ack is None or ack.get("result") != "ok":
        problem = f"stop {req.commandId} not acknowledged ok"
    elif not after:
        problem = "no telemetry since the stop command"
    elif not power.fresh:
        problem = f"cannot confirm: the last power reading is stale ({power.describe()})"
    elif abs(float(power.value)) > battery.STOPPED_KW:
        problem = f"power still {power.value} kW"
    else:
        problem = None
    run.record(
        "stop_verified" if problem is None else "stop_not_verified",
        why=f"power {power.describe()}, after stop {req.commandId}",
        result=f"power {power.value} kW: no power flow" if problem is None else problem,
        outcome=None if problem is None else Outcome.NOT_FIXED,
    )
    return {"stopped": problem is None, "reason": problem or ""}
