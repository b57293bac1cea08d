"""Runbook 000 §5a: the system should have stopped by itself; it did not, so send the stop
command to the edge's agent (verified by the next step from telemetry)."""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel
from selfheal_shared.battery.incident import Incident, scopes
from selfheal_shared.battery.over_temperature import AUTOMATION
from selfheal_shared.core import clock
from selfheal_shared.core.clients import client
from selfheal_shared.core.protocol import Run, remediator


class StopRequest(BaseModel):
    incident: Incident


@remediator(
    StopRequest,
    actor="over_temperature_stop",
    automation=AUTOMATION,
    what="stop request",
    scopes=lambda r: scopes(r.incident),
)
def handler(run: Run[StopRequest]) -> dict[str, Any]:
    inc = run.request.incident
    command_id = f"stop-{run.effect_key('edge_stop', inc.edgeId)}"
    topic = f"lifo4/{inc.edgeId}/commands/stop"

    def send(_key: str) -> dict[str, str]:
        sent = {"commandId": command_id, "issuedAt": clock.now().isoformat()}
        body = {**sent, "command": "stop", "incidentId": inc.incidentId}
        client("iot-data").publish(topic=topic, qos=1, payload=json.dumps(body))
        return sent

    return run.act(
        "edge_stop",
        target=inc.edgeId,
        why="OVER_TEMPERATURE and power still flowing (runbook 000 §5a)",
        plan=f"send stop ({command_id}) to {topic}",
        do=send,
        landed=lambda _key: None,  # a publish leaves no trace; the edge acts on an id once
        result=f"sent stop ({command_id}) to {topic}",
        inverse={"note": "none by automation: only after the restart lock is released"},
        safety=True,  # runbook 000 §6: a silence holds pages, never a safety stop
    )
