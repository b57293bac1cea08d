"""Turn off the non-critical feature flags that are on (runbook 001 "Desabilitar todas as
feature flags não críticas"): the ones the configuration lists, nothing else, in one
AppConfig version, verified deployed. What was turned off is on the record, so the gate
turns exactly those on again."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel
from selfheal_shared.core import appconfig_deploy
from selfheal_shared.core.protocol import Run, remediator
from selfheal_shared.deploy import critical, flag_switch
from selfheal_shared.deploy.critical import CriticalIncident
from selfheal_shared.platform import maintenance_window as mw

ACTOR = "critical_disable_flags"


class FlagsRequest(BaseModel):
    incident: CriticalIncident


@remediator(
    FlagsRequest,
    actor=ACTOR,
    automation=critical.AUTOMATION,
    what="flags request",
    scopes=mw.calendar_scopes,
)
def handler(run: Run[FlagsRequest]) -> dict[str, Any]:
    inc = run.request.incident
    flags = inc.flags
    # Read again right before acting: a flag turned off since the survey is not ours.
    still_on = [n for n, on in flag_switch.enabled(flags, flags.on).items() if on]
    if not still_on and not run.pending("disable_flags", critical.SCOPE):
        run.record(
            "disable_flags",
            why=inc.reason,
            result=f"no non-critical flag is on (listed: {', '.join(flags.on) or 'none on'})",
        )
        return {"action": "disable_flags", "changed": False, "flags": [], "result": "none on"}
    names = still_on or list(flags.on)
    where = flag_switch.where(flags)

    def turn_off(key: str) -> int:
        return flag_switch.set_flags(
            flags, names, False, key, f"selfheal {inc.incidentId}: disable {' '.join(names)}"
        )

    def verified(version: int) -> str | None:
        now = flag_switch.enabled(flags, names)
        left = [n for n, on in now.items() if on]
        return f"still on after deploying version {version}: {', '.join(left)}" if left else None

    version = run.act(
        "disable_flags",
        target=critical.SCOPE,
        why=f"{inc.reason}; non-critical per {critical.CONFIG}",
        plan=f"disable {', '.join(names)} in {where.application}/{where.environment}",
        do=turn_off,
        landed=lambda key: appconfig_deploy.deployed_under(where, key),
        verify=verified,
        result=lambda v: f"disabled {', '.join(names)} (configuration version {v})",
        inverse={
            "api": "appconfig:StartDeployment",
            "enable": names,
            "ApplicationId": flags.application,
            "EnvironmentId": flags.environment,
            "ConfigurationProfileId": flags.profile,
        },
        details=lambda v: {"flags": names, "version": v},
    )
    return {
        "action": "disable_flags",
        "changed": True,
        "flags": names,
        "result": f"disabled {', '.join(names)} (configuration version {version})",
    }
