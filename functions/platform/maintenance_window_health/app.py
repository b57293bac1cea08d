"""The post-maintenance health check (runbook 001: `rollback.py --action health-check
--functions lambda_router structured_data_processor rag_query_processor influxdb_loader`):
each configured function exists, is Active, and logged no Errors since the maintenance mode
went off. Checks only; the workflow says "all systems operational" only when every one
passed, and escalates with the failures otherwise."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel
from selfheal_shared.core import clock, lambda_health
from selfheal_shared.core.protocol import Run, remediator
from selfheal_shared.platform import maintenance_window as mw


class HealthRequest(BaseModel):
    incident: mw.Window
    config: mw.MaintenanceConfig


@remediator(HealthRequest, actor="maintenance_window_health", automation=mw.AUTOMATION,
            what="health check")  # fmt: skip
def handler(run: Run[HealthRequest]) -> dict[str, Any]:
    req = run.request
    since = mw.parse_start(req.incident.endsAt, "endsAt")
    now = clock.now()
    problems = {
        name: problem
        for name in req.config.healthFunctions
        if (problem := lambda_health.problem(name, since=since, until=now)) is not None
    }
    ok = [n for n in req.config.healthFunctions if n not in problems]
    if problems:
        summary = "health check failed: " + "; ".join(f"{n}: {p}" for n, p in problems.items())
        if ok:
            summary += f" (healthy: {', '.join(ok)})"
    else:
        summary = f"all {len(ok)} functions healthy: {', '.join(ok)}"
    run.record(
        "health_check",
        why="runbook 001: health checks after the maintenance",
        result=summary,
        details={"problems": problems, "healthy": ok},
    )
    return {"healthy": not problems, "summary": summary, "problems": problems}
