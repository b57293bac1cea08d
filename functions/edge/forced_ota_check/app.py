"""Follow a forced-OTA stage's IoT jobs (recording progress for the timeline) and, once
they have ended, verify each edge on its own report: an update counts only when the edge
says it runs the new version (a rollback: the version it ran before), whatever the job
execution status says."""

from __future__ import annotations

import math
from collections import Counter
from typing import Any, Literal

from pydantic import BaseModel, Field
from selfheal_shared.core.clients import client
from selfheal_shared.core.outcomes import Outcome
from selfheal_shared.core.protocol import Run, remediator
from selfheal_shared.edge import ota
from selfheal_shared.edge.ota_state import reported_version

#: Polls fall at 30 s past each minute of a job's life (the workflow waits 30 s first):
#: never at the instant IoT Jobs notifies its next batch, nor when a 45 s install ends.
POLL_SECONDS = 60
#: Past the devices' in-progress timeout (the job's `timeoutConfig`), plus a margin.
SLACK_POLLS = 40


class OtaIncident(BaseModel):
    incidentId: str = Field(min_length=1)
    executionId: str = Field(min_length=1)
    version: str = Field(min_length=1)


class CheckRequest(BaseModel):
    incident: OtaIncident
    stage: Literal["canary", "rollout", "rollback"]
    jobIds: list[str] = Field(default_factory=list)
    edges: list[str] = Field(default_factory=list)
    #: Edges already updated by an earlier stage (the canary), rolled back with the rest.
    earlier: list[str] = Field(default_factory=list)
    previous: dict[str, str] = Field(default_factory=dict)
    polls: int = Field(default=0, ge=0)
    last: str = ""


@remediator(CheckRequest, actor="forced_ota_check", automation=ota.AUTOMATION, what="OTA check")
def handler(run: Run[CheckRequest]) -> dict[str, Any]:
    req = run.request
    statuses, executions = _read(req.jobIds)
    progress = _progress(req.jobIds, statuses, executions)
    if progress != req.last:
        run.record(
            "ota_progress", why=f"{req.stage} of OTA {req.incident.version}", result=progress
        )
    running = [s for s in executions.values() if s in ("QUEUED", "IN_PROGRESS")]
    finished = all(s in ("COMPLETED", "CANCELED") for s in statuses.values()) and not any(
        s == "IN_PROGRESS" for s in executions.values()
    )
    rate = ota.rollout_config()["maximumPerMinute"]
    limit = math.ceil(len(req.edges) / rate) + SLACK_POLLS
    exhausted = not finished and req.polls + 1 >= limit
    base = {"polls": req.polls + 1, "last": progress, "waitSeconds": POLL_SECONDS}
    if not finished and not exhausted:
        return {
            **base,
            "done": False,
            "ok": False,
            "rollBack": False,
            "rollback": [],
            "summary": progress,
        }
    aborted = any(s == "CANCELED" for s in statuses.values())
    if req.stage == "rollback":
        return {**base, **_verify_rollback(run, req, exhausted)}
    want = req.incident.version
    updated = [e for e in req.edges if reported_version(e) == want]
    missing = [e for e in req.edges if e not in updated]
    # A stage whose every edge was refused right before its job updated nothing: a canary
    # that did not run is no evidence, and a rollout with no edge and no canary did nothing.
    ok = (
        not missing
        and not exhausted
        and bool(req.edges or (req.stage == "rollout" and req.earlier))
    )
    stuck = (
        f"; still {len(running)} queued or in progress after {req.polls + 1} min"
        if exhausted
        else ""
    )
    text = (
        f"{req.stage}: {len(updated)} of {len(req.edges)} edge(s) report {want}"
        + (
            "; not updated: "
            + ", ".join(f"{e} ({reported_version(e) or 'no report'})" for e in missing)
            if missing
            else ""
        )
        + (f"; job aborted by its abort criteria ({_abort_text(statuses)})" if aborted else "")
        + stuck
        + ("; rollout not started" if req.stage == "canary" and not ok else "")
    )
    run.record(
        f"ota_{req.stage}_verified" if ok else f"ota_{req.stage}_not_verified",
        # An outcome's timeline line shows its `why`: the finding, not the method.
        why="each edge's own firmware report, not the job status alone" if ok else text,
        result=text,
        outcome=None if ok else Outcome.NOT_FIXED,
        details={"updated": updated, "notUpdated": missing, "aborted": aborted},
    )
    failed_stage = not ok and (req.stage == "canary" or aborted)
    rollback = (
        sorted(set(updated + [e for e in req.earlier if reported_version(e) == want]))
        if failed_stage
        else []
    )
    return {
        **base,
        "done": True,
        "ok": ok,
        "aborted": aborted,
        "updated": updated,
        "rollBack": bool(rollback),
        "rollback": rollback,
        "summary": text,
    }


def _verify_rollback(run: Run[CheckRequest], req: CheckRequest, exhausted: bool) -> dict[str, Any]:
    back = [e for e in req.edges if reported_version(e) == req.previous.get(e)]
    not_back = [e for e in req.edges if e not in back]
    text = f"rolled back to the previous version and reported by {', '.join(back) or 'no edge'}" + (
        f"; NOT rolled back: {', '.join(not_back)}" if not_back else ""
    )
    run.record(
        "ota_rollback_verified" if not not_back else "ota_rollback_not_verified",
        why="each edge's own firmware report after the rollback job" if not not_back else text,
        result=text,
        outcome=None if not not_back else Outcome.NOT_FIXED,
        details={"rolledBack": back, "notRolledBack": not_back},
    )
    ok = not not_back and not exhausted
    return {"done": True, "ok": ok, "rollBack": False, "rollback": [], "summary": text}


def _read(job_ids: list[str]) -> tuple[dict[str, str], dict[str, str]]:
    """(job -> status, 'job/thing' -> execution status)."""
    iot = client("iot")
    statuses: dict[str, str] = {}
    executions: dict[str, str] = {}
    for job in job_ids:
        statuses[job] = str(iot.describe_job(jobId=job)["job"]["status"])
        for page in iot.get_paginator("list_job_executions_for_job").paginate(jobId=job):
            for ex in page["executionSummaries"]:
                thing_name = str(ex["thingArn"]).rsplit("/", 1)[-1]
                executions[f"{job}/{thing_name}"] = str(ex["jobExecutionSummary"]["status"])
    return statuses, executions


def _progress(job_ids: list[str], statuses: dict[str, str], executions: dict[str, str]) -> str:
    if not job_ids:
        return "no job: no edge left to update"
    parts = []
    for job in job_ids:
        counts = Counter(s for k, s in executions.items() if k.startswith(f"{job}/"))
        tally = ", ".join(f"{n} {s.lower().replace('_', ' ')}" for s, n in sorted(counts.items()))
        parts.append(f"job {job} {statuses[job]}: {tally}")
    return "; ".join(parts)


def _abort_text(statuses: dict[str, str]) -> str:
    iot = client("iot")
    notes = [
        str(iot.describe_job(jobId=j)["job"].get("comment") or j)
        for j, s in statuses.items()
        if s == "CANCELED"
    ]
    return "; ".join(notes)
