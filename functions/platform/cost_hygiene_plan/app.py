"""Plan a cost hygiene run (runbook 001 "Gestão de Custos", D6): read the account and list
what the run would delete or change (old Lambda versions, log groups without retention, the
raw bucket's lifecycle rules) and what it keeps and why. Reads only: the list is what a dry
run shows and what the guards' decision is about."""

from __future__ import annotations

from typing import Any, Literal

from botocore.exceptions import ClientError
from pydantic import BaseModel, ConfigDict, Field
from selfheal_shared.core import clock, protocol
from selfheal_shared.core.errors import InputInvalid
from selfheal_shared.core.handler import remediator
from selfheal_shared.core.models import parse
from selfheal_shared.platform import cost_hygiene as ch
from selfheal_shared.platform import cost_hygiene_aws as aws


class PlanRequest(BaseModel):
    input: dict[str, Any]
    executionId: str = Field(min_length=1)


class ScheduledRun(BaseModel):
    """What `events/schedules/cost_hygiene_weekly.json` passes (Scheduler fills the time)."""

    model_config = ConfigDict(extra="forbid")
    trigger: Literal["schedule"]
    scheduledTime: str = Field(min_length=1)
    #: One run as a dry run (the list, nothing changed), without the global switch.
    dryRun: bool = False


@remediator
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    req = parse(PlanRequest, event, "cost_hygiene start")
    scheduled = parse(ScheduledRun, req.input, "scheduled cost_hygiene input")
    try:
        at = clock.parse_aws_time(scheduled.scheduledTime)
    except ValueError:
        raise InputInvalid(f"scheduledTime: {scheduled.scheduledTime!r} is not a time") from None
    run_id = req.executionId.rsplit(":", 1)[-1]
    incident_id = f"{ch.AUTOMATION}-{at:%Y-%m-%d}-{run_id}"
    run = protocol.begin(
        req,
        actor="eventbridge-scheduler",
        automation=ch.AUTOMATION,
        incident_id=incident_id,
        execution_id=req.executionId,
        context=context,
    )
    cfg = ch.config()
    plan = _survey(cfg)
    run.record(
        "cost_hygiene_plan",
        why=f"weekly cost hygiene scheduled for {scheduled.scheduledTime}",
        result=plan["summary"],
        details={
            k: plan[k]
            for k in ("versions", "kept", "logGroups", "lifecycle", "skipped", "withheld", "left")
        },
    )
    return {
        "runId": run_id,
        "incidentId": incident_id,
        "startedAt": clock.aws_time(clock.now()),
        "dryRun": scheduled.dryRun,
        **plan,
    }


def _survey(cfg: ch.CostConfig) -> dict[str, Any]:
    skipped: list[str] = []
    withheld: list[str] = []
    protected, unreadable = aws.deployed()
    mappings = aws.mapped()
    if unreadable:
        withheld.append(
            "no Lambda version deleted: a CodeDeploy deployment does not say which versions "
            "it uses (" + "; ".join(unreadable) + ")"
        )
    delete: list[dict[str, str]] = []
    kept: list[str] = []
    for function in cfg.lambdaVersions.functions:
        if not aws.function_exists(function):
            skipped.append(f"{function}: no such function")
            continue
        keep = cfg.lambdaVersions.keep_for(function)
        guarded = {v: why for (fn, v), why in {**mappings, **protected}.items() if fn == function}
        guarded.update(aws.aliased(function))
        gone, stays = ch.versions_to_delete(aws.versions(function), keep, guarded)
        kept += [f"{function}:{v} ({why})" for v, why in stays.items() if v in guarded]
        if not unreadable:
            delete += [{"function": function, "version": v} for v in gone]
    groups = ch.without_retention(aws.log_groups())
    bucket = cfg.rawBucket.bucket
    try:
        _, changed = ch.merge_rules(aws.lifecycle_rules(bucket), cfg.rawBucket.rules)
    except ClientError as exc:  # one unreadable bucket does not sink the rest of the plan
        changed = []
        withheld.append(f"{bucket}: lifecycle not read, no rule put ({aws.error_text(exc)})")
    lifecycle = {"bucket": bucket, "rules": changed}
    delete, groups, left = _cap(cfg.maxChangesPerRun - (1 if changed else 0), delete, groups)
    would = (
        [f"delete {d['function']}:{d['version']}" for d in delete]
        + [f"set {cfg.logGroups.retentionDays}-day retention on {g}" for g in groups]
        + [f"put lifecycle rule {rid} on {bucket}" for rid in changed]
    )
    own = [f"{f}: {n}" for f, n in cfg.lambdaVersions.keepLastByFunction.items()]
    summary = (
        f"{len(delete)} Lambda versions to delete (keeping the last "
        f"{cfg.lambdaVersions.keepLast}" + (f"; {', '.join(own)}" if own else "") + "), "
        f"{len(groups)} log groups without retention, "
        f"{len(changed)} lifecycle rules to put on {bucket}"
        + (
            f"; {left} more changes left for the next run (at most {cfg.maxChangesPerRun} a run)"
            if left
            else ""
        )
        + (f"; kept whatever their age: {', '.join(kept)}" if kept else "")
        + (f"; {'; '.join(withheld + skipped)}" if withheld or skipped else "")
    )
    return {
        "versions": delete,
        "kept": kept,
        "logGroups": groups,
        "retentionDays": cfg.logGroups.retentionDays,
        "lifecycle": lifecycle,
        "skipped": skipped,
        "withheld": withheld,
        "actionCount": len(would) + len(withheld),
        "wouldDo": would,
        "left": left,
        "summary": summary,
    }


def _cap(
    room: int, delete: list[dict[str, str]], groups: list[str]
) -> tuple[list[dict[str, str]], list[str], int]:
    """At most `room` changes this run, versions first: the rest is the next run's."""
    room = max(room, 0)
    versions = delete[:room]
    retained = groups[: room - len(versions)]
    return versions, retained, len(delete) + len(groups) - len(versions) - len(retained)
