"""Open an over-temperature incident (runbook 000 §5a): hold the restart lock at once (no
automation, OTA or command may restart the system: "NÃO religar até normalizar
temperatura"), then read the telemetry: is power still flowing?"""

from __future__ import annotations

from datetime import timedelta
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
    power = battery.reading(edge, "powerKw", "powerAt", clock.now())
    temperature = battery.reading(edge, "temperatureC", "temperatureAt", clock.now())
    stopped = power.fresh and abs(float(power.value)) <= battery.STOPPED_KW
    if stopped:
        verdict = "system already stopped (no power flow)"
    elif power.fresh:
        verdict = "system still running"
    else:
        # A stale reading cannot confirm the stop: the stop is sent (a stopped system
        # ignores it) and verified from a reading after it; people are paged either way.
        verdict = "cannot confirm the system stopped: stop sent, verified from a new reading"
    run.record(
        "telemetry_read",
        why="runbook 000 §5a: Sistema já deve ter parado automaticamente; only a fresh "
        "reading confirms it",
        result=f"power {power.value or '?'} kW ({power.describe()}), temperature "
        f"{temperature.value or '?'} °C ({temperature.describe()}): {verdict}",
        details={"fresh": power.fresh, "ageSeconds": _seconds(power.age)},
    )
    return {
        "incident": incident.model_dump(),
        "running": not stopped,
        "confirmed": power.fresh,
        "powerKw": float(power.value) if power.value else None,
    }


def _seconds(age: timedelta | None) -> int | None:
    return None if age is None else int(age.total_seconds())
