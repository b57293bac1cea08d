"""Health-check every critical function the configuration lists (runbook 001 "Avaliar
impacto: Verificar todos os componentes críticos", `health-check --functions ...`): the
function exists and is Active, and its Errors metric (the runbook's `get-metric-statistics
--metric-name Errors --statistics Sum`) stayed under the threshold in every minute of the
window. Reads only; the findings go on the record and into the page."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from pydantic import BaseModel
from selfheal_shared.core import clock, lambda_health
from selfheal_shared.core.protocol import Run, remediator
from selfheal_shared.deploy import critical
from selfheal_shared.deploy.critical import CriticalIncident
from selfheal_shared.platform import maintenance_window as mw


class HealthRequest(BaseModel):
    incident: CriticalIncident


def _problem(name: str, threshold: critical.HealthThreshold) -> str | None:
    end = clock.now()
    return lambda_health.problem(
        name,
        since=end - timedelta(minutes=threshold.minutes),
        until=end,
        errors_per_minute=threshold.errorsPerMinute,
    )


@remediator(
    HealthRequest,
    actor="critical_health",
    automation=critical.AUTOMATION,
    what="health request",
    scopes=mw.calendar_scopes,
)
def handler(run: Run[HealthRequest]) -> dict[str, Any]:
    cfg = critical.config()
    healthy: list[str] = []
    unhealthy: list[dict[str, str]] = []
    for name in cfg.functions:
        try:
            problem = _problem(name, cfg.health)
        except (BotoCoreError, ClientError) as err:
            # One unreadable function is a finding, not the end of the others' checks.
            problem = f"could not check: {err}"
        if problem is None:
            healthy.append(name)
        else:
            unhealthy.append({"function": name, "problem": problem})
    failing = "; ".join(f"{u['function']}: {u['problem']}" for u in unhealthy)
    summary = f"{len(healthy)} of {len(cfg.functions)} critical functions healthy" + (
        f"; UNHEALTHY: {failing}" if unhealthy else ""
    )
    run.record(
        "health_check",
        why=f"{run.request.incident.reason}; functions listed in {critical.CONFIG}",
        result=summary,
        details={"healthy": healthy, "unhealthy": unhealthy},
    )
    return {"healthy": healthy, "unhealthy": unhealthy, "summary": summary}
