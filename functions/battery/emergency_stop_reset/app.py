"""Send the E-Stop reset a human approved (runbook 000 §5c `commands/reset-emergency-stop`
with `{"confirmedSafe": true, "operator": ...}`); the record names who approved it and the
cause they confirmed."""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, Field
from selfheal_shared.battery import battery
from selfheal_shared.battery.estop import AUTOMATION
from selfheal_shared.battery.incident import Incident, scopes
from selfheal_shared.core import clock
from selfheal_shared.core.clients import client
from selfheal_shared.core.errors import GuardRefused
from selfheal_shared.core.protocol import Run, remediator

COMMAND = "reset-emergency-stop"


class ResetRequest(BaseModel):
    incident: Incident
    operator: str = Field(min_length=1, max_length=128)
    #: The cause the approver confirmed (runbook 000 §5c: never a reset without one).
    cause: str = Field(min_length=1, max_length=500)


@remediator(
    ResetRequest,
    actor="emergency_stop_reset",
    automation=AUTOMATION,
    what="reset request",
    scopes=lambda r: scopes(r.incident),
)
def handler(run: Run[ResetRequest]) -> dict[str, Any]:
    req = run.request
    inc = req.incident
    if locked := battery.restart_lock(inc.edgeId):
        raise GuardRefused(f"restart_lock: {locked}; not done: {COMMAND}")
    action = "edge_reset_emergency_stop"
    command_id = f"estop-reset-{run.effect_key(action, inc.edgeId)}"
    topic = f"lifo4/{inc.edgeId}/commands/{COMMAND}"

    def send(_key: str) -> dict[str, str]:
        sent = {"commandId": command_id, "issuedAt": clock.now().isoformat()}
        body = {**sent, "command": COMMAND, "confirmedSafe": True, "operator": req.operator}
        client("iot-data").publish(topic=topic, qos=1, payload=json.dumps(body))
        return sent

    return run.act(
        action,
        target=inc.edgeId,
        why=f"approved by {req.operator} (confirmedSafe: true, cause: {req.cause}) at the "
        "human gate",
        plan=f"send {COMMAND} ({command_id}) to {topic}",
        do=send,
        landed=lambda _key: None,  # a publish leaves no trace; the edge acts on an id once
        result=f"sent {COMMAND} ({command_id}) approved by {req.operator}",
        inverse={"note": "none: an E-Stop is raised again by the hardware, not by selfheal"},
        details=lambda _: {"operator": req.operator, "cause": req.cause},
    )
