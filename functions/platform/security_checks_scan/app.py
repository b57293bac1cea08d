"""Run runbook 001's daily security checks and write the report for the security contact:
IAM policy changes (CloudTrail), access keys older than 90 days, security groups open to
the internet, SECURITY log lines, over the day before the scheduled time.

It only reads. The kill switch and dry-run hold selfheal's actions; this takes none, so it
runs under them and the report says they are on (a paused automation must not also blind
the security contact). A check AWS refuses is reported as not run and escalated."""

from __future__ import annotations

import sys
from datetime import datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from selfheal_shared.core import clock, escalation_policy, guards, protocol
from selfheal_shared.core.errors import InputInvalid
from selfheal_shared.core.handler import remediator
from selfheal_shared.core.models import parse
from selfheal_shared.core.outcomes import Outcome
from selfheal_shared.platform import security_checks as sc
from selfheal_shared.platform import security_sources as sources


class ScanRequest(BaseModel):
    input: dict[str, Any]
    executionId: str = Field(min_length=1)


class RunInput(BaseModel):
    """What `events/schedules/security_checks_daily.json` passes, or a manual start."""

    model_config = ConfigDict(extra="forbid")

    trigger: Literal["schedule", "manual"] = "manual"
    scheduledTime: str | None = None
    requestedBy: str = Field(default="console", min_length=1, max_length=128)


#: CloudTrail's event history keeps 90 days: a window older than that cannot be read whole.
HISTORY = timedelta(days=90)
#: A scheduler's clock a little ahead of Lambda's is not a future run.
SKEW = timedelta(minutes=5)


def window(run: RunInput) -> tuple[datetime, datetime]:
    """(start, end): the day before the scheduled time (or now, for a manual start), ended
    `lagMinutes` early so late-delivered events fall in the next day's window (consecutive
    days still tile exactly). A scheduled time in the future, or one whose window is past
    CloudTrail's 90 days, would give an untrue report: refused."""
    now = clock.now()
    cfg = sc.settings()
    if run.trigger != "schedule":
        if run.scheduledTime is not None:
            raise InputInvalid("scheduledTime: only a scheduled run has one (trigger 'schedule')")
        at = now
    elif not run.scheduledTime:
        raise InputInvalid("scheduledTime: required for a scheduled run")
    else:
        try:
            at = clock.parse_aws_time(run.scheduledTime)
        except ValueError:
            raise InputInvalid(f"scheduledTime: {run.scheduledTime!r} is not a time") from None
    end = at - timedelta(minutes=cfg.lagMinutes)
    start = end - timedelta(hours=cfg.windowHours)
    if at > now + SKEW:
        raise InputInvalid(f"scheduledTime: {run.scheduledTime} is in the future (now {now})")
    if start < now - HISTORY:
        raise InputInvalid(
            f"scheduledTime: {run.scheduledTime} is too old: its window starts past "
            f"CloudTrail's {HISTORY.days} days of event history"
        )
    return start, end


@remediator
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    req = parse(ScanRequest, event, "security_checks start")
    data = parse(RunInput, req.input, "security_checks input")
    start, end = window(data)
    checked_at = end + timedelta(minutes=sc.settings().lagMinutes)
    # The id the workflow's failure path names too (escalate's default for the execution).
    incident_id = f"{sc.AUTOMATION}-{req.executionId.rsplit(':', 1)[-1]}"
    run = protocol.begin(
        req,
        actor="eventbridge-scheduler" if data.trigger == "schedule" else data.requestedBy,
        automation=sc.AUTOMATION,
        incident_id=incident_id,
        execution_id=req.executionId,
        context=context,
    )
    switches = guards.switches_on()
    if switches:
        run.record(
            "guards",
            why="the kill switch and dry-run hold actions; these checks only read",
            result=f"ran under: {'; '.join(switches)}",
        )
    results = [
        sources.run("iam_policy_changes", lambda: sources.iam_policy_changes(start, end)),
        # Ages count from the scheduled time (the runbook's "Age > 90" on the day).
        sources.run("old_access_keys", lambda: sources.old_access_keys(checked_at)),
        sources.run("open_security_groups", sources.open_security_groups),
        sources.run("security_logs", lambda: sources.security_logs(start, end)),
    ]
    for r in results:
        run.record(
            r.check,
            why=f"{sc.title(r.check)}, {start.isoformat()} to {end.isoformat()}",
            result=(f"{r.found} found" if r.ran else f"did not run: {r.error}"),
            details={"findings": r.findings[:20], "omitted": r.found - len(r.findings[:20])},
        )
    whole = sc.report(results, start, end, switches, limit=sys.maxsize)
    kept = sources.keep_report(incident_id, end, whole)
    run.record(
        "keep_report",
        why="the page shows at most maxFindings per check; the whole report is kept",
        result=kept,
    )
    report = sc.report(results, start, end, switches, kept)
    text = report.pop("text")  # once in the page: its reason (or summary)
    if report["outcome"] == Outcome.NO_ACTION_NEEDED:
        run.record(
            sc.AUTOMATION,
            why="every check ran",
            result=report["summary"],
            outcome=Outcome.NO_ACTION_NEEDED,
        )
    policy = escalation_policy.load(sc.SYSTEM)
    return {
        "incidentId": incident_id,
        "outcome": report["outcome"],
        "summary": report["summary"],
        "report": report,
        "text": text,
        # The security contact of the platform's escalation policy (runbook 001).
        "levels": [policy.topic(sc.SECURITY_LEVEL)],
        "notRunLevels": [policy.topic(level) for level in sc.NOT_RUN_LEVELS],
        "securityContact": policy.levels[sc.SECURITY_LEVEL].who,
    }
