"""Turn off the AppConfig feature flags a function's tags name as implicated (runbook 001 D1,
"Se problema de configuração"): the workflow calls it when the diagnosis picks the
configuration branch, or when the alarm stays in ALARM after rolling back."""

from __future__ import annotations

import json
from typing import Any

from botocore.exceptions import ClientError
from selfheal_shared.core import appconfig_deploy
from selfheal_shared.core.clients import client
from selfheal_shared.core.errors import ConcurrentChange
from selfheal_shared.core.protocol import Run, remediator
from selfheal_shared.deploy import rollback
from selfheal_shared.deploy.incident import Incident
from selfheal_shared.deploy.rollback import AUTOMATION
from selfheal_shared.platform import maintenance_window as mw

ACTOR = "rollback_disable_flags"


def _deployed_version(ac: Any, application: str, environment: str, profile: str) -> int | None:
    """The configuration version of the newest deployment of this profile, if any."""
    items = ac.list_deployments(ApplicationId=application, EnvironmentId=environment)["Items"]
    mine = [
        d
        for d in items
        if d.get("ConfigurationProfileId") == profile
        and d.get("State") in ("COMPLETE", "DEPLOYING", "BAKING")
    ]
    if not mine:
        return None
    return int(max(mine, key=lambda d: d["DeploymentNumber"])["ConfigurationVersion"])


def _document(ac: Any, application: str, profile: str, version: int) -> dict[str, Any]:
    resp = ac.get_hosted_configuration_version(
        ApplicationId=application, ConfigurationProfileId=profile, VersionNumber=version
    )
    return dict(json.loads(resp["Content"].read()))


@remediator(
    Incident, actor=ACTOR, automation=AUTOMATION, what="incident", scopes=mw.calendar_scopes
)
def handler(run: Run[Incident]) -> dict[str, Any]:
    incident = run.request
    ff = incident.featureFlags
    if ff is None:
        return {
            "action": "disable_flags",
            "changed": False,
            "flags": [],
            "result": "no flags implicated",
        }
    ac = client("appconfig")
    deployed = _deployed_version(ac, ff.application, ff.environment, ff.profile)
    saved = ac.list_hosted_configuration_versions(
        ApplicationId=ff.application, ConfigurationProfileId=ff.profile
    )["Items"]
    if not saved:
        return {
            "action": "disable_flags",
            "changed": False,
            "flags": [],
            "result": "profile has no configuration",
        }
    latest = max(int(v["VersionNumber"]) for v in saved)
    # What production runs is the deployed version; the newest saved one may never have
    # been deployed (an earlier attempt that failed between saving and deploying).
    live_doc = _document(ac, ff.application, ff.profile, deployed or latest)
    _, live_changed = rollback.disable_flags(json.loads(json.dumps(live_doc)), ff.flags)
    if not live_changed and not run.pending("disable_flags", incident.functionName):
        return {
            "action": "disable_flags",
            "changed": False,
            "flags": [],
            "result": f"flags {' '.join(ff.flags)} already off or unknown in the deployed "
            "configuration",
        }
    updated, changed = rollback.disable_flags(
        _document(ac, ff.application, ff.profile, latest), ff.flags
    )

    where = appconfig_deploy.Where(ff.application, ff.environment, ff.profile, ff.strategy)

    def turn_off(key: str) -> str:
        if not changed:  # saved by an earlier attempt, never deployed: deploy that one
            ac.start_deployment(
                ApplicationId=ff.application,
                EnvironmentId=ff.environment,
                DeploymentStrategyId=ff.strategy,
                ConfigurationProfileId=ff.profile,
                ConfigurationVersion=str(latest),
                Description=f"{key} selfheal {incident.incidentId}",
            )
            return str(latest)
        try:
            return str(
                appconfig_deploy.save_and_deploy(
                    where,
                    updated,
                    key,
                    f"selfheal {incident.incidentId}: disable {' '.join(changed)}",
                    latest=latest,
                )
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] in (
                "ConflictException",
                "PreconditionFailedException",
            ):
                raise ConcurrentChange(
                    f"flags of {ff.profile} changed while we edited them"
                ) from exc
            raise

    def turned_off(key: str) -> str | None:
        version = appconfig_deploy.deployed_under(where, key)
        return None if version is None else str(version)

    names = changed or live_changed or list(ff.flags)

    def deployed_now(version: str) -> str | None:
        now = _deployed_version(ac, ff.application, ff.environment, ff.profile)
        return None if str(now) == version else f"the deployed version is {now}, not {version}"

    new_version = run.act(
        "disable_flags",
        target=incident.functionName,
        why=_why(incident),
        plan=f"disable {', '.join(names)} in {ff.application}/{ff.environment}/{ff.profile}",
        do=turn_off,
        landed=turned_off,
        verify=deployed_now,
        result=lambda v: f"disabled {', '.join(names)} (configuration version {v})",
        inverse={
            "api": "appconfig:StartDeployment",
            "ConfigurationVersion": str(deployed or latest),
            "ApplicationId": ff.application,
            "EnvironmentId": ff.environment,
            "ConfigurationProfileId": ff.profile,
        },
    )
    return {
        "action": "disable_flags",
        "changed": True,
        "flags": names,
        "result": f"disabled {', '.join(names)} (configuration version {new_version})",
    }


def _why(incident: Incident) -> str:
    """The evidence that chose this branch, as the diagnosis recorded it."""
    d = incident.diagnosis
    if d is None:
        return (
            f"flags named by {incident.functionName}'s tags while {incident.alarmName} is in ALARM"
        )
    if d.first == "rollback":
        return f"{d.configuration}; alarm {incident.alarmName} still in ALARM after the rollback"
    return f"{d.configuration}; {d.deployment}; alarm {incident.alarmName} in ALARM"
