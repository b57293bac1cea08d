"""Restore after an operator said so: turn on again exactly the flags the manifest says were
turned off (nothing else), and redeploy the revision of each deployment it stopped (a
stopped CodeDeploy deployment cannot be resumed), each verified. One that cannot be done
makes the outcome NOT_FIXED, with the list."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError
from pydantic import BaseModel
from selfheal_shared.core import appconfig_deploy, approvals, audit
from selfheal_shared.core.clients import client
from selfheal_shared.core.errors import ActionFailed, InputInvalid
from selfheal_shared.core.outcomes import Outcome
from selfheal_shared.core.protocol import Run, remediator
from selfheal_shared.deploy import critical, flag_switch
from selfheal_shared.deploy.critical import CriticalIncident, FlagsOn
from selfheal_shared.platform import maintenance_window as mw

#: The manifest's record (written by critical_gate).
MANIFEST = "critical_manifest"
STARTED = ("Created", "Queued", "InProgress", "Baking", "Ready", "Succeeded")


class RestoreRequest(BaseModel):
    incident: CriticalIncident
    decision: approvals.Decision


def _manifest(incident_id: str) -> dict[str, Any]:
    found = [r for r in audit.history(incident_id) if r["action"] == MANIFEST]
    if not found:
        raise InputInvalid(f"incident {incident_id}: no undo manifest; nothing may be restored")
    return dict(found[-1]["details"])


def _flags_on(run: Run[RestoreRequest], flags: FlagsOn, names: list[str], why: str) -> None:
    where = flag_switch.where(flags)

    def verified(version: int) -> str | None:
        off = [n for n, on in flag_switch.enabled(flags, names).items() if not on]
        return f"still off after deploying version {version}: {', '.join(off)}" if off else None

    run.act(
        "restore_flags",
        target=critical.SCOPE,
        why=why,
        plan=f"enable {', '.join(names)} again in {where.application}/{where.environment}",
        do=lambda key: flag_switch.set_flags(
            flags, names, True, key, f"selfheal {run.incident_id}: restore {' '.join(names)}"
        ),
        landed=lambda key: appconfig_deploy.deployed_under(where, key),
        verify=verified,
        result=lambda v: f"enabled {', '.join(names)} again (configuration version {v})",
        inverse={"api": "appconfig:StartDeployment", "disable": names},
    )


def _redeploy(run: Run[RestoreRequest], ref: str, why: str) -> str:
    app, group, dep = critical.deployment_parts(ref)
    cd = client("codedeploy", sdk_retries=False)
    revision = cd.get_deployment(deploymentId=dep)["deploymentInfo"]["revision"]

    def mine(key: str) -> str | None:
        ids = cd.list_deployments(applicationName=app, deploymentGroupName=group)["deployments"]
        for other in ids:
            info = cd.get_deployment(deploymentId=other)["deploymentInfo"]
            if str(info.get("description", "")).split(" ", 1)[0] == key:
                return str(other)
        return None

    def create(key: str) -> str:
        return str(
            cd.create_deployment(
                applicationName=app,
                deploymentGroupName=group,
                revision=revision,
                description=f"{key} selfheal {run.incident_id}: redeploy the revision of {dep}",
            )["deploymentId"]
        )

    def started(new: str) -> str | None:
        status = cd.get_deployment(deploymentId=new)["deploymentInfo"]["status"]
        return None if status in STARTED else f"the redeployment is {status}"

    return run.act(
        "redeploy",
        target=critical.SCOPE,
        step=ref,
        why=why,
        plan=f"redeploy the revision of {dep} ({app}/{group})",
        do=create,
        landed=mine,
        verify=started,
        # Created/Queued/InProgress is started, not done: the record says started.
        result=f"started a redeployment of the revision of {dep} to {app}/{group}",
        inverse=lambda new: {"api": "codedeploy:StopDeployment", "deploymentId": new},
        details=lambda new: {"from": ref, "to": new},
    )


@remediator(
    RestoreRequest,
    actor="critical_restore",
    automation=critical.AUTOMATION,
    what="restore",
    scopes=mw.calendar_scopes,
)
def handler(run: Run[RestoreRequest]) -> dict[str, Any]:
    req = run.request
    if req.decision.decision != "resume":
        raise InputInvalid(f"decision.decision: {req.decision.decision!r} does not restore")
    manifest = _manifest(req.incident.incidentId)
    why = f"{req.decision.operator} approved the restore: {req.decision.reason}"
    flags: list[str] = list(manifest["flagsTurnedOff"])
    if flags:
        _flags_on(run, FlagsOn.model_validate(manifest["flags"]), flags, why)
    redeployed, failed = [], []
    for ref in manifest["deploymentsStopped"]:
        try:
            redeployed.append(_redeploy(run, ref, why))
        except (ClientError, ActionFailed) as exc:
            failed.append({"deployment": ref, "problem": str(exc)[:300]})
    text = (
        f"enabled again {', '.join(flags) or 'no flag'}; redeployment started for "
        f"{len(redeployed)} of "
        f"{len(manifest['deploymentsStopped'])} stopped deployment(s)"
    )
    if failed:
        text += "; redeployment NOT started (redeploy by hand): " + ", ".join(
            f["deployment"] for f in failed
        )
    outcome = Outcome.NOT_FIXED if failed else Outcome.FIXED
    run.record("restore", why=why, result=text)
    return {
        "action": "restore",
        "changed": True,
        "outcome": outcome,
        "result": text,
        "flags": flags,
        "redeployed": redeployed,
        "notRedeployed": failed,
    }
