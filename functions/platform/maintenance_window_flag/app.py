"""Turn the platform's maintenance mode on at the window's start and off at its end (runbook
001: `rollback.py --action rollback-flags --flags enable_maintenance_mode`, then `deploy.py
--action update-flag --flag-name enable_maintenance_mode --enabled false`), in the AppConfig
profile the configuration names, verified by reading the deployed configuration back.

The action's target is the flag profile, never the calendar scope: the window does not hold
its own flag change; the kill switch and dry-run do (`Run.act` reads them right before)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel
from selfheal_shared.core import appconfig_deploy
from selfheal_shared.core.protocol import Run, remediator
from selfheal_shared.platform import maintenance_window as mw
from selfheal_shared.platform import maintenance_window_store as store


class FlagRequest(BaseModel):
    incident: mw.Window
    config: mw.MaintenanceConfig
    on: bool


@remediator(FlagRequest, actor="maintenance_window_flag", automation=mw.AUTOMATION,
            what="maintenance mode switch")  # fmt: skip
def handler(run: Run[FlagRequest]) -> dict[str, Any]:
    req = run.request
    target, flag = req.config.appconfig, req.config.flag
    where = f"{target.application}/{target.environment}/{target.profile}"
    state = "on" if req.on else "off"
    action = f"maintenance_mode_{state}"
    resource = f"appconfig:{where}"
    before, doc = store.deployed(target)
    why = (
        f"maintenance window {req.incident.startsAt} to {req.incident.endsAt} "
        + ("starts" if req.on else "ended")
        + f": {req.incident.reason}"
    )
    if mw.flag_value(doc, flag) == req.on and not run.pending(action, resource):
        text = f"{flag} already {state} in the deployed configuration of {where}: nothing changed"
        run.record(action, why=why, result=text)
        return {"action": action, "changed": False, "result": text}

    def verify(_version: int) -> str | None:
        now_on = mw.flag_value(store.deployed(target)[1], flag)
        return None if now_on == req.on else f"deployed configuration still has {flag} {now_on}"

    version = run.act(
        action,
        target=resource,
        why=why,
        plan=f"turn {flag} {state} in {where}",
        do=lambda key: store.set_flags(
            target, {flag: req.on}, key, f"selfheal {req.incident.incidentId}: {flag} {state}"
        ),
        landed=lambda key: appconfig_deploy.deployed_under(store.where(target), key),
        verify=verify,
        result=lambda v: (
            f"{flag} {state} in {where} (configuration version {v}, deployed, read back)"
        ),
        inverse={
            "api": "appconfig:StartDeployment",
            "ApplicationId": target.application,
            "EnvironmentId": target.environment,
            "ConfigurationProfileId": target.profile,
            "ConfigurationVersion": str(before),
            "flag": flag,
            "enabled": not req.on,
        },
    )
    text = f"{flag} {state} in {where} (configuration version {version}, deployed, read back)"
    return {"action": action, "changed": True, "result": text}
