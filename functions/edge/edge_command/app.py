"""Send a command to an edge over MQTT (IoT Core data plane), with a command id the
edge acknowledges. Restarts are capped fleet-wide (per clock minute, and to a share of the
fleet in any sliding 60 s); a restart over budget is queued, not failed: the workflow
waits the seconds returned and asks again, its own timing going on meanwhile."""

from __future__ import annotations

import json
import math
from typing import Any, Literal

from pydantic import BaseModel, Field
from selfheal_shared.battery import battery
from selfheal_shared.core import clock, config
from selfheal_shared.core.clients import client
from selfheal_shared.core.errors import GuardRefused
from selfheal_shared.core.outcomes import Outcome
from selfheal_shared.core.protocol import Run, remediator
from selfheal_shared.edge import edge_registry, edges
from selfheal_shared.edge.edges import AUTOMATION
from selfheal_shared.edge.edges import EdgeIncident as Incident


class CommandRequest(BaseModel):
    incident: Incident
    command: Literal["probe", "restart", "ota-rollback"]
    #: What the diagnosis found, so the action's record says why this fix (runbook 000 §1).
    evidence: list[str] = Field(default_factory=list, max_length=10)
    #: The workflow step sending it (`$$.State.EnteredTime`: one value for all the Retry
    #: attempts of one entry into the state); with the incident it fixes the command id.
    step: str = Field(default="", max_length=64)


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
    if req.command in battery.RESTARTING and (estop := battery.estop_active(inc.edgeId)):
        # Runbook 000 §5c: an E-Stop is never acted on without a human ("NUNCA fazer reset
        # sem identificar causa"): an offline edge under it is not restarted nor rolled back.
        _refused(run, "emergency_stop", estop, "has an active EMERGENCY_STOP")
        raise GuardRefused(f"emergency_stop: {estop}; not done: {req.command}")
    if req.command in battery.RESTARTING and (locked := battery.restart_lock(inc.edgeId)):
        # Runbook 000 §5a "NÃO religar até normalizar temperatura": no restart or OTA
        # while the over-temperature lock is held; a restart waits for its release.
        _refused(run, "restart_lock", locked, "is under a restart lock")
        if req.command != "restart":
            raise GuardRefused(f"restart_lock: {locked}; not done: {req.command}")
        return {"commandId": None, "command": req.command, "queued": True, "waitSeconds": 300}
    action = f"edge_{req.command}"
    # The command id is the effect's key: a retried step sends the same id, and the edge
    # acts on an id once (a QoS 1 redelivery or a republish is acknowledged, not redone).
    command_id = f"{req.command}-{run.effect_key(action, inc.edgeId, req.step)}"
    first = not run.begun(action, inc.edgeId, req.step)
    if req.command == "restart" and first and (wait := _restart_budget(run)) > 0:
        return {"commandId": None, "command": req.command, "queued": True, "waitSeconds": wait}
    topic = f"lifo4/{inc.edgeId}/commands/{req.command}"
    body = {
        "commandId": command_id,
        "command": req.command,
        "issuedAt": clock.now().isoformat(),
        "incidentId": inc.incidentId,
    }
    run.act(
        action,
        target=inc.edgeId,
        step=req.step,
        why=f"{AUTOMATION}: {inc.edgeId} offline"
        + (f"; diagnosis: {'; '.join(req.evidence)}" if req.evidence else ""),
        plan=f"send {req.command} ({command_id}) to {topic}",
        do=lambda _key: publish(inc.edgeId, req.command, body),
        landed=lambda _key: None,  # a publish leaves no trace to ask; repeating the id is safe
        result=f"sent {req.command} ({command_id}) to {topic}",
        inverse={"note": "none: commands are acknowledged or time out"}
        if req.command != "ota-rollback"
        else {"api": "OTA update to the version rolled back from"},
    )
    return {"commandId": command_id, "command": req.command, "queued": False, "waitSeconds": 0}


def _restart_budget(run: Run[CommandRequest]) -> int:
    """Take a restart slot; else record the queueing once per wait and say how long."""
    inc = run.request.incident
    per_minute = int(config.env("SELFHEAL_EDGE_RESTARTS_PER_MINUTE", "10"))
    percent = float(config.env("SELFHEAL_EDGE_RESTART_FLEET_PERCENT", "5"))
    _, fleet = edge_registry.fleet_sizes(inc.siteId)
    per_window = edges.restart_cap(fleet, percent)
    wait = edge_registry.take_restart_slot(per_minute, per_window)
    if wait <= 0:
        return 0
    seconds = max(1, math.ceil(wait))
    run.record(
        "edge_restart_queued",
        why=f"fleet restart budget spent: {per_minute}/min and {per_window} per 60 s "
        f"({percent:g}% of {fleet} edges)",
        result=f"{inc.edgeId} waits {seconds} s for the next slot",
    )
    return seconds


def _refused(run: Run[CommandRequest], guard: str, why: str, state: str) -> None:
    """The command not sent because `guard` holds the system, on the record."""
    req = run.request
    run.record(
        f"edge_{req.command}",
        why=why,
        result=f"not sent: {req.incident.edgeId} {state}",
        outcome=Outcome.SKIPPED_BY_GUARD,
        details={"guard": guard},
    )
