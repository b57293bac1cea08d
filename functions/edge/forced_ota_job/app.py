"""Create the AWS IoT Job of one forced-OTA stage (runbook 000 §2), so IoT Jobs does the
rollout: the canary (one edge), the rest at `maximumPerMinute` with `abortConfig` (the job
cancels itself past the failure threshold), or the rollback of the edges that updated to
the version each reported before. The blockers are read again right before the job: an
edge that became blocked since the plan is left out, with its reason."""

from __future__ import annotations

import json
from typing import Any, Literal

from botocore.exceptions import ClientError
from pydantic import BaseModel, Field
from selfheal_shared.core.clients import client
from selfheal_shared.core.outcomes import Outcome
from selfheal_shared.core.protocol import Run, remediator
from selfheal_shared.edge import edge_registry, ota
from selfheal_shared.edge.ota_state import edge_blockers, thing


class OtaIncident(BaseModel):
    incidentId: str = Field(min_length=1)
    executionId: str = Field(min_length=1)
    version: str = Field(min_length=1)


class JobRequest(BaseModel):
    incident: OtaIncident
    stage: Literal["canary", "rollout", "rollback"]
    edges: list[str] = Field(default_factory=list, max_length=500)
    #: Rollback only: the version each edge reported before the update.
    previous: dict[str, str] = Field(default_factory=dict)


@remediator(
    JobRequest,
    actor="forced_ota_job",
    automation=ota.AUTOMATION,
    what="OTA job request",
    scopes=lambda r: ("fleet",),
)
def handler(run: Run[JobRequest]) -> dict[str, Any]:
    req = run.request
    if req.stage == "rollback":
        return _rollback(run)
    targets = [e for e in req.edges if _still_clear(run, e)]
    if not targets:
        return {"jobIds": [], "edges": []}
    job = ota.job_id(req.incident.incidentId, req.stage)
    config: dict[str, Any] = {}
    if req.stage == "rollout":
        config = {
            "jobExecutionsRolloutConfig": ota.rollout_config(),
            "abortConfig": ota.abort_config(),
        }
    _create(
        run,
        job,
        targets,
        req.incident.version,
        config,
        why=f"{req.stage} of OTA {req.incident.version}",
    )
    return {"jobIds": [job], "edges": targets}


def _still_clear(run: Run[JobRequest], edge_id: str) -> bool:
    info = thing(edge_id) or {}
    reasons = edge_blockers(edge_id, edge_registry.get(f"edge#{edge_id}") or {}, info)
    if reasons:
        run.record(
            "ota_refused",
            why="runbook 000 §2 Bloqueios comuns (read again before the job)",
            result=f"{edge_id}: not updated: {'; '.join(reasons)}",
            outcome=Outcome.SKIPPED_BY_GUARD,
            details={"edgeId": edge_id, "reasons": reasons},
        )
    return not reasons


def _rollback(run: Run[JobRequest]) -> dict[str, Any]:
    """One job per previous version (a job has one document)."""
    req = run.request
    by_version: dict[str, list[str]] = {}
    for edge_id in req.edges:
        if req.previous.get(edge_id):
            by_version.setdefault(req.previous[edge_id], []).append(edge_id)
    jobs = []
    for n, (version, edge_ids) in enumerate(sorted(by_version.items()), start=1):
        job = ota.job_id(req.incident.incidentId, f"rollback{n}")
        _create(run, job, edge_ids, version, {}, why=f"roll back OTA {req.incident.version}")
        jobs.append(job)
    return {"jobIds": jobs, "edges": [e for v in by_version.values() for e in v]}


def _create(
    run: Run[JobRequest],
    job: str,
    edge_ids: list[str],
    version: str,
    config: dict[str, Any],
    *,
    why: str,
) -> None:
    iot = client("iot")
    arns = [(thing(e) or {}).get("thingArn", "") for e in edge_ids]
    doc = ota.document(version)

    def made(_key: str) -> str | None:
        """The job id is the natural id: IoT refuses a second job by it."""
        try:
            return str(iot.describe_job(jobId=job)["job"]["status"])
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "ResourceNotFoundException":
                raise
        return None

    def do(key: str) -> str:
        if (status := made(key)) is not None:
            return status
        iot.create_job(
            jobId=job,
            targets=arns,
            document=json.dumps(doc),
            description=f"selfheal {run.incident_id}: {why}",
            targetSelection="SNAPSHOT",
            timeoutConfig={"inProgressTimeoutInMinutes": 30},
            **config,
        )
        return str(iot.describe_job(jobId=job)["job"]["status"])

    rate = config.get("jobExecutionsRolloutConfig", {}).get("maximumPerMinute")
    abort = (config.get("abortConfig", {}).get("criteriaList") or [{}])[0]
    how = (
        f" at most {rate}/min, abort past {abort['thresholdPercentage']:g} % FAILED "
        f"(after {abort['minNumberOfExecutedThings']} done)"
        if rate and abort
        else ""
    )
    run.act(
        "ota_job",
        target=job,
        why=why,
        plan=f"IoT job {job}: {version} to {', '.join(edge_ids)}{how}",
        do=do,
        landed=made,
        verify=lambda status: (
            None if status in ("QUEUED", "IN_PROGRESS", "COMPLETED") else f"job {status}"
        ),
        inverse={"api": "iot:CancelJob", "jobId": job},
        result=lambda status: f"IoT job {job} ({status}): {version} to {', '.join(edge_ids)}{how}",
        details=lambda status: {"jobId": job, "edges": edge_ids, "version": version, **config},
    )
