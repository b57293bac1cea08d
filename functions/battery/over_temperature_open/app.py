"""Open an over-temperature incident (runbook 000 §5a): hold the restart lock at once (no
automation, OTA or command may restart the system: "NÃO religar até normalizar
temperatura"), then read the telemetry: is power still flowing?"""

from __future__ import annotations

from typing import Any

from selfheal_shared.battery import battery
from selfheal_shared.battery.incident import open_incident
from selfheal_shared.battery.over_temperature import AUTOMATION, AlarmDetail
from selfheal_shared.core import clock
from selfheal_shared.core.handler import remediator
from selfheal_shared.edge import edge_registry


@remediator
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    run, alarm = open_incident(
        event,
        context,
        AlarmDetail,
        automation=AUTOMATION,
        actor="over_temperature_open",
        what="over-temperature request",
    )
    incident = run.request
    now = clock.now().isoformat()
    held = edge_registry.get(battery.lock_key(alarm.edgeId)) or {}
    since = held.get("since") if held.get("state") == "held" else now
    edge_registry.update(
        battery.lock_key(alarm.edgeId),
        {
            "state": "held",
            "since": since,
            "reason": f"OVER_TEMPERATURE raised at {alarm.raisedAt}",
            "incidentId": incident.incidentId,
            "normalSince": "",
        },
    )
    run.record(
        "restart_lock_held",
        why="runbook 000 §5a: NÃO religar até normalizar temperatura",
        result=f"{alarm.edgeId}: restart, OTA and equalize refused until the temperature is "
        f"below {battery.SAFE_TEMPERATURE_C:g} °C for {battery.SUSTAIN_MINUTES} min",
    )
    edge = edge_registry.get(f"edge#{alarm.edgeId}") or {}
    power = float(edge["powerKw"]) if edge.get("powerKw") not in (None, "") else None
    running = power is None or abs(power) > battery.STOPPED_KW
    run.record(
        "telemetry_read",
        why="runbook 000 §5a: Sistema já deve ter parado automaticamente",
        result=(
            f"power {power:g} kW, temperature {edge.get('temperatureC', '?')} °C at "
            f"{edge.get('lastTelemetryAt', 'never')}: "
            if power is not None
            else "no power reading: "
        )
        + ("system still running" if running else "system already stopped (no power flow)"),
    )
    return {"incident": incident.model_dump(), "running": running, "powerKw": power}
