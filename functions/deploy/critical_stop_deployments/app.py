"""Stop every CodeDeploy deployment the survey found InProgress, with rollback (runbook 001
"Parar implantações em andamento"), and verify each stopped. One effect per deployment,
keyed by incident and deployment: a retry never stops twice, and one that finished on its
own since the survey is said so, not credited."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel
from selfheal_shared.core.clients import client
from selfheal_shared.core.protocol import Run, remediator
from selfheal_shared.deploy import critical
from selfheal_shared.deploy.critical import CriticalIncident
from selfheal_shared.platform import maintenance_window as mw

ACTOR = "critical_stop_deployments"


class StopRequest(BaseModel):
    incident: CriticalIncident


def _status(cd: Any, dep: str) -> dict[str, Any]:
    return dict(cd.get_deployment(deploymentId=dep)["deploymentInfo"])


def _stop(run: Run[StopRequest], ref: str) -> dict[str, Any]:
    inc = run.request.incident
    app, group, dep = critical.deployment_parts(ref)
    cd = client("codedeploy", sdk_retries=False)
    info = _status(cd, dep)
    if info["status"] != "InProgress" and not run.pending("stop_deployment", critical.SCOPE, ref):
        run.record(
            "stop_deployment",
            why=inc.reason,
            result=f"deployment {dep} ({app}/{group}) is {info['status']} now: not stopped",
            details={"deployment": ref, "status": info["status"]},
        )
        return {"deployment": ref, "changed": False, "status": info["status"]}

    def seen(now: dict[str, Any]) -> dict[str, Any]:
        rollback = (now.get("rollbackInfo") or {}).get("rollbackDeploymentId")
        return {"status": now["status"], "rollback": rollback}

    def stopped(_key: str) -> dict[str, Any] | None:
        now = _status(cd, dep)
        return seen(now) if now["status"] in critical.STOPPED else None

    def stop(_key: str) -> dict[str, Any]:
        cd.stop_deployment(deploymentId=dep, autoRollbackEnabled=True)
        return seen(_status(cd, dep))

    def said(r: dict[str, Any]) -> str:
        # Only what CodeDeploy reports: a rollback it started, or none.
        rollback = r.get("rollback")
        done = f"rollback {rollback} started" if rollback else "no rollback reported by CodeDeploy"
        return f"deployment {dep} ({app}/{group}) {r['status']}; {done}"

    result = run.act(
        "stop_deployment",
        target=critical.SCOPE,
        step=ref,
        why=inc.reason,
        plan=f"stop deployment {dep} ({app}/{group}) with rollback",
        do=stop,
        landed=stopped,
        verify=lambda r: (
            None if r["status"] in critical.STOPPED else f"deployment is {r['status']}"
        ),
        result=said,
        inverse={
            "api": "codedeploy:CreateDeployment",
            "applicationName": app,
            "deploymentGroupName": group,
            "note": f"redeploy the revision of {dep}",
        },
        details=lambda r: {"deployment": ref},
    )
    return {"deployment": ref, "changed": True, "status": result["status"]}


@remediator(
    StopRequest,
    actor=ACTOR,
    automation=critical.AUTOMATION,
    what="stop request",
    scopes=mw.calendar_scopes,
)
def handler(run: Run[StopRequest]) -> dict[str, Any]:
    results = [_stop(run, ref) for ref in run.request.incident.deployments]
    stopped = [r["deployment"] for r in results if r["changed"]]
    return {
        "action": "stop_deployments",
        "changed": bool(stopped),
        "stopped": stopped,
        "notStopped": [r for r in results if not r["changed"]],
        "result": f"stopped {len(stopped)} of {len(results)} deployment(s) InProgress",
    }
