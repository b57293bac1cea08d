"""Resume after a human said so: re-enable exactly what the manifest lists, verify it is
on again, re-drive the executions the freeze stopped (a stopped execution cannot resume:
each starts again with its original input), release the freeze lock. An execution that
could not be re-driven makes the outcome NOT_FIXED, with the list."""

from __future__ import annotations

import hashlib
from typing import Any

from botocore.exceptions import ClientError
from pydantic import BaseModel
from selfheal_shared.core import approvals, audit
from selfheal_shared.core.clients import client
from selfheal_shared.core.config import settings
from selfheal_shared.core.errors import ActionFailed, InputInvalid, Transient, is_transient
from selfheal_shared.core.outcomes import Outcome
from selfheal_shared.core.protocol import Run, remediator
from selfheal_shared.data import ingestion
from selfheal_shared.platform import maintenance_window as mw


class ResumeRequest(BaseModel):
    incident: ingestion.FreezeIncident
    decision: approvals.Decision


def _manifest(incident_id: str) -> dict[str, Any]:
    records = [r for r in audit.history(incident_id) if r["action"] == "freeze_manifest"]
    if not records:
        raise InputInvalid(f"incident {incident_id}: no freeze manifest; nothing may be resumed")
    return dict(records[-1]["details"])


def _enable_rule(run: Run[ResumeRequest], rule: dict[str, Any], why: str) -> None:
    events = client("events")
    name, bus = rule["name"], rule["bus"]

    def enabled() -> bool:
        return bool(events.describe_rule(Name=name, EventBusName=bus)["State"] == "ENABLED")

    run.act(
        "resume_rules",
        target=run.request.incident.scope,
        step=f"rule {bus}/{name}",
        why=why,
        plan=f"enable rule {name}",
        do=lambda _key: events.enable_rule(Name=name, EventBusName=bus),
        landed=lambda _key: {} if enabled() else None,
        verify=lambda _: None if enabled() else "the rule is still not ENABLED",
        result=f"enabled rule {name}",
        inverse={"api": "events:DisableRule", "Name": name, "bus": bus},
    )


def _enable_mapping(run: Run[ResumeRequest], m: dict[str, Any], why: str) -> None:
    lam = client("lambda")
    uuid = m["uuid"]

    def enabled() -> bool:
        return lam.get_event_source_mapping(UUID=uuid)["State"] in ("Enabled", "Enabling")

    run.act(
        "resume_mappings",
        target=run.request.incident.scope,
        step=f"mapping {uuid}",
        why=why,
        plan=f"enable {ingestion.describe_mapping(m)}",
        do=lambda _key: lam.update_event_source_mapping(UUID=uuid, Enabled=True),
        landed=lambda _key: {} if enabled() else None,
        verify=lambda _: None if enabled() else "the mapping is still not enabled",
        result=f"enabled {ingestion.describe_mapping(m)}",
        inverse={"api": "lambda:UpdateEventSourceMapping Enabled=false", "UUID": uuid},
    )


def redrive_name(incident_id: str, execution_arn: str) -> str:
    """The same name on every retry of this resume (a second start is refused, not doubled),
    unique per incident and execution; at most 80 characters, as Step Functions allows."""
    tag = hashlib.sha256(f"{incident_id}|{execution_arn}".encode()).hexdigest()[:8]
    return f"{execution_arn.rsplit(':', 1)[-1][:62]}-redrive-{tag}"


def _redrive(run: Run[ResumeRequest], stopped: dict[str, Any], why: str) -> str:
    """Start the stopped execution again with its original input; returns the new ARN."""
    sfn = client("stepfunctions")
    arn, machine = stopped["executionArn"], stopped["stateMachineArn"]
    original = sfn.describe_execution(executionArn=arn)
    name = redrive_name(run.request.incident.incidentId, arn)
    old = arn.rsplit(":", 1)[-1]

    new_arn: str = machine.replace(":stateMachine:", ":execution:", 1) + ":" + name

    def start(_key: str) -> str:
        try:
            new: str = sfn.start_execution(
                stateMachineArn=machine, name=name, input=original.get("input") or "{}"
            )["executionArn"]
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "ExecutionAlreadyExists":
                raise
            # A retry of this resume: the first attempt started it.
            new = new_arn
        return new

    def exists(_key: str) -> str | None:
        """The execution name is the natural id: one start per stopped execution."""
        try:
            sfn.describe_execution(executionArn=new_arn)
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "ExecutionDoesNotExist":
                raise
            return None
        return new_arn

    def started(new: str) -> str | None:
        status = sfn.describe_execution(executionArn=new)["status"]
        return None if status in ("RUNNING", "SUCCEEDED") else f"the re-drive is {status}"

    return run.act(
        "redrive_executions",
        target=run.request.incident.scope,
        why=why,
        step=f"execution {arn}",
        plan=f"re-drive execution {old} with its original input",
        do=start,
        landed=exists,
        verify=started,
        result=lambda new: f"re-drove execution {old} as {new.rsplit(':', 1)[-1]}",
        inverse=lambda new: {"api": "states:StopExecution", "executionArn": new},
        details=lambda new: {"from": arn, "to": new},
    )


def _redrive_all(
    run: Run[ResumeRequest], stopped: list[dict[str, Any]], why: str
) -> tuple[list[str], list[dict[str, str]]]:
    """Every stopped execution is tried; one that fails is listed, not hidden."""
    done, failed = [], []
    for item in stopped:
        try:
            done.append(_redrive(run, item, why))
        except (ClientError, ActionFailed) as exc:
            if is_transient(exc):  # throttled: the whole resume retries (each step idempotent)
                raise Transient(f"re-drive of {item['executionArn']} throttled: {exc}") from exc
            failed.append({"executionArn": item["executionArn"], "problem": str(exc)[:300]})
    return done, failed


@remediator(
    ResumeRequest,
    actor="freeze_resume",
    automation=ingestion.AUTOMATION,
    what="resume request",
    scopes=mw.calendar_scopes,
)
def handler(run: Run[ResumeRequest]) -> dict[str, Any]:
    req = run.request
    inc = req.incident
    if req.decision.decision != "resume":
        raise InputInvalid(f"decision.decision: {req.decision.decision!r} does not resume")
    manifest = _manifest(inc.incidentId)
    why = f"{req.decision.operator} approved the resume" + (
        f": {req.decision.reason}" if req.decision.reason else ""
    )
    for rule in manifest["rules"]:
        _enable_rule(run, rule, why)
    for m in manifest["mappings"]:
        _enable_mapping(run, m, why)
    redriven, failed = _redrive_all(run, manifest["executions"], why)
    client("dynamodb").delete_item(
        TableName=settings().guard_table,
        Key={"pk": {"S": f"frozen#{inc.scope}"}},
        ConditionExpression="incidentId = :i",
        ExpressionAttributeValues={":i": {"S": inc.incidentId}},
    )
    result = {
        "rules": [r["name"] for r in manifest["rules"]],
        "mappings": [m["uuid"] for m in manifest["mappings"]],
        "redriven": redriven,
        "notRedriven": failed,
    }
    stopped = len(manifest["executions"])
    text = (
        f"re-enabled {len(result['rules'])} rules and {len(result['mappings'])} mappings "
        f"from the manifest; re-drove {len(redriven)} of {stopped} stopped executions"
    )
    if failed:
        names = ", ".join(f["executionArn"].rsplit(":", 1)[-1] for f in failed)
        text += f"; NOT re-driven (re-drive them by hand): {names}"
    outcome = Outcome.NOT_FIXED if failed else Outcome.FIXED
    run.record(
        "resume_ingestion",
        why=why,
        result=text,
        inverse={"api": "selfheal freeze_ingestion", "scope": inc.scope},
        details=result,
    )
    return {
        "action": "resume_ingestion",
        "changed": True,
        "outcome": outcome,
        "result": text,
        **result,
    }
