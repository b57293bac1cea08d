"""Switch the Equivalence Engine's fallback mapper flag (AppConfig `fallbackMapper`) on or
off, verified by reading the deployed configuration back. Turning it on is runbook 002's
"Fallback mapper deve ativar automaticamente", announced to ops; turning it off happens only
after the sustained healthy period the workflow measured."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel
from selfheal_shared.api import mapper_mode
from selfheal_shared.api.mapper_mode import MapperIncident
from selfheal_shared.core import appconfig_deploy, notify
from selfheal_shared.core.protocol import Run, recorded_steps, remediator

ACTOR = "mapper_switch"


class SwitchRequest(BaseModel):
    incident: MapperIncident
    on: bool
    why: str


@remediator(SwitchRequest, actor=ACTOR, automation=mapper_mode.AUTOMATION, what="mapper switch")
def handler(run: Run[SwitchRequest]) -> dict[str, Any]:
    req = run.request
    cfg = mapper_mode.config(req.incident.mapper)
    target, flag = cfg.appconfig, cfg.flag
    where = f"{target.application}/{target.environment}/{target.profile}"
    state = "on" if req.on else "off"
    action = f"fallback_mapper_{state}"
    mapper = f"mapper:{req.incident.mapper}"
    # Already as wanted, and not by an attempt of ours whose record is still to be written.
    if mapper_mode.flag_on(target, flag) == req.on and not run.pending(action, mapper):
        text = f"{flag} already {state} in the deployed configuration of {where}: nothing changed"
        run.record(action, why=req.why, result=text)
        return {"action": action, "changed": False, "result": text}

    def verify(version: int) -> str | None:
        now_on = mapper_mode.flag_on(target, flag)
        return None if now_on == req.on else f"deployed configuration still has {flag} {now_on}"

    text = ""

    def result(version: int) -> str:
        nonlocal text
        text = f"{flag} {state} in {where} (configuration version {version}, deployed, read back)"
        return text

    run.act(
        action,
        target=mapper,
        why=req.why,
        plan=f"turn {flag} {state} in {where}",
        do=lambda key: mapper_mode.set_flag(
            target, flag, req.on, key, f"selfheal {req.incident.incidentId}: {flag} {state}"
        ),
        landed=lambda key: appconfig_deploy.deployed_under(mapper_mode.where(target), key),
        verify=verify,
        result=result,
        inverse={"api": "appconfig:StartDeployment", "flag": flag, "enabled": not req.on},
    )
    if req.on:
        notify.publish(
            "ops",
            subject=f"[selfheal] {mapper_mode.AUTOMATION}: degraded mode ON ({flag})",
            message={
                "incidentId": req.incident.incidentId,
                "automation": mapper_mode.AUTOMATION,
                "summary": f"external mapper {req.incident.mapper} failing ({req.why}): "
                f"{text}; switched back only after {mapper_mode.HEALTHY_MINUTES} min of "
                "healthy probes",
                "done": recorded_steps(req.incident.incidentId),
            },
        )
    return {"action": action, "changed": True, "result": text}
