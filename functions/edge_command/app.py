"""Send a command to an edge over MQTT (IoT Core data plane), with a command id the
edge acknowledges. Restarts are capped per minute across the fleet."""

from __future__ import annotations

import json
import os
import uuid
from typing import Any, Literal

from pydantic import BaseModel
from selfheal_shared import clock, edge_registry, edges
from selfheal_shared.clients import client
from selfheal_shared.edges import AUTOMATION
from selfheal_shared.edges import EdgeIncident as Incident
from selfheal_shared.errors import SelfhealError
from selfheal_shared.protocol import Run, remediator


class RateLimited(SelfhealError):
    """The fleet-wide restart budget for this minute is spent; the workflow retries later."""


class CommandRequest(BaseModel):
    incident: Incident
    command: Literal["probe", "restart", "ota-rollback"]


def publish(edge_id: str, command: str, body: dict[str, Any]) -> None:
    client("iot-data").publish(
        topic=f"lifo4/{edge_id}/commands/{command}", qos=1, payload=json.dumps(body).encode()
    )


@remediator(
    CommandRequest,
    actor="edge_command",
    automation=AUTOMATION,
    what="edge command",
    scopes=lambda r: edges.silence_scopes(r.incident),
)
def handler(run: Run[CommandRequest]) -> dict[str, Any]:
    req = run.request
    inc = req.incident
    cap = int(os.environ.get("SELFHEAL_EDGE_RESTARTS_PER_MINUTE", "10"))
    if req.command == "restart" and not edge_registry.take_restart_slot(cap):
        raise RateLimited(f"fleet restart budget ({cap}/min) spent; {inc.edgeId} waits")
    command_id = f"{req.command}-{uuid.uuid4().hex[:12]}"
    topic = f"lifo4/{inc.edgeId}/commands/{req.command}"
    body = {
        "commandId": command_id,
        "command": req.command,
        "issuedAt": clock.now().isoformat(),
        "incidentId": inc.incidentId,
    }
    run.act(
        f"edge_{req.command}",
        target=inc.edgeId,
        why=f"{AUTOMATION}: {inc.edgeId} offline",
        plan=f"send {req.command} ({command_id}) to {topic}",
        do=lambda: publish(inc.edgeId, req.command, body),
        result=f"sent {req.command} ({command_id}) to {topic}",
        inverse={"note": "none: commands are acknowledged or time out"}
        if req.command != "ota-rollback"
        else {"api": "OTA update to the version rolled back from"},
    )
    return {"commandId": command_id, "command": req.command}
