"""Probe the real external mapper once and advance the healthy-period watch (runbook 002:
`curl http://localhost:9001/health`). A failed probe after healthy ones is a flap: the
period starts again, recorded; the end of a sustained period is recorded too."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field
from selfheal_shared.api import mapper_mode
from selfheal_shared.api.mapper_mode import MapperIncident
from selfheal_shared.core import clock
from selfheal_shared.core.protocol import Run, remediator


class ProbeRequest(BaseModel):
    incident: MapperIncident
    watch: dict[str, Any] = Field(default_factory=dict)


@remediator(ProbeRequest, actor="mapper_probe", automation=mapper_mode.AUTOMATION, what="probe")
def handler(run: Run[ProbeRequest]) -> dict[str, Any]:
    req = run.request
    cfg = mapper_mode.config(req.incident.mapper)
    problem = mapper_mode.probe(cfg.health)
    watch = mapper_mode.watch_step(req.watch, problem, clock.now())
    if problem and req.watch.get("healthySince"):
        run.record(
            "probe_mapper",
            why="a failed probe ends the healthy period",
            result=f"{req.incident.mapper} {problem} after being healthy since "
            f"{req.watch['healthySince']}: the {mapper_mode.HEALTHY_MINUTES}-min period "
            "starts again",
            details=watch,
        )
    elif watch["sustained"]:
        run.record(
            "probe_mapper",
            why=f"switch back only after {mapper_mode.HEALTHY_MINUTES} min of healthy probes",
            result=f"{req.incident.mapper} healthy since {watch['healthySince']} "
            f"({watch['probes']} probes, {watch['flaps']} flaps)",
            details=watch,
        )
    return watch
