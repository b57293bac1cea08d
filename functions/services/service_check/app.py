"""Read only: the service's status, its recent logs and its dependencies' status, in the
runbooks' order (002 "docker compose ps" / "logs --tail 200" / "Verificar Postgres e
Redis"; 003 verify_status / check_logs; 004 pm2 status / logs / dados-recentes)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel
from selfheal_shared.core.outcomes import Outcome
from selfheal_shared.core.protocol import Run, remediator
from selfheal_shared.services import mqtt_markers, service_ops, service_spec
from selfheal_shared.services.service_recovery import (
    AUTOMATION,
    ServiceIncident,
    minutes_since,
    root_cause,
)


class CheckRequest(BaseModel):
    incident: ServiceIncident
    #: "diagnose" at the start, "recheck" on the escalation ladder.
    step: str = "diagnose"


@remediator(CheckRequest, actor="service_check", automation=AUTOMATION, what="service check")
def handler(run: Run[CheckRequest]) -> dict[str, Any]:
    inc = run.request.incident
    spec = service_spec.get(inc.service)
    status = service_ops.probe(spec)
    deps = [service_ops.probe(service_spec.get(d)) for d in spec.dependencies]
    # The incident's log lines (from a bounded window before it began): the excerpt is their
    # tail; the runbook's markers are read over all of them.
    read = [] if status.up else service_ops.read_logs(spec, inc.began())
    logs = read[-spec.logLines :]
    cause = root_cause(spec, status, deps)
    healthy = status.up and all(d.up for d in deps)
    down = [d.service for d in deps if not d.up]
    # Runbook 004 passo 2 "pm2 logs aupus-api | grep MQTT": the markers it names, read.
    markers = mqtt_markers.read(read).summary() if read and spec.kind == "ingestion" else ""
    run.record(
        f"check_service_{run.request.step}",
        why=f"{inc.reason}; runbook {spec.runbook}: status, logs, dependencies first",
        result=f"{spec.name}: {status.detail}"
        + "".join(f"; {d.service}: {d.detail}" for d in deps)
        + (f"; pm2 logs | grep MQTT: {markers}" if markers else "")
        + (f"; last log line: {logs[-1]}" if logs else ""),
        outcome=Outcome.NO_ACTION_NEEDED if healthy and run.request.step == "diagnose" else None,
        details={"status": status.to_dict(), "dependencies": [d.to_dict() for d in deps]},
    )
    return {
        "service": spec.name,
        "verdict": "healthy" if healthy else "down",
        # Healthy at the first look: nothing to do, and nothing done.
        "outcome": Outcome.NO_ACTION_NEEDED.value if healthy else Outcome.NOT_FIXED.value,
        "status": status.to_dict(),
        "dependencies": [d.to_dict() for d in deps],
        "downDependencies": down,
        "logs": logs,
        "logMarkers": markers,
        "rootCause": cause,
        "minutesAtCheck": round(minutes_since(inc.startedAt), 2),
    }
