"""Plan a maintenance window of the ONS data platform (runbook 001 D7): validate the start
(a manual `{start, durationMinutes, reason}` against the published schema, or the weekly
schedule's fire time + its lead) and read the configuration and the buckets the later steps
act on, so a misconfiguration fails now, not at the window. Called twice: before the guard
step (`book: false`, reads only) and after it (`book: true`), when it puts the window in the
one calendar by a conditional write (never over another window of the scope).

Neither a dry run nor the kill switch books the window. A calendar entry only holds
automation, but one nothing will act in would hold every ONS-platform workflow for a
maintenance that selfheal will not run, with no notice telling anyone why; and a dry run
must change nothing (its guard record keeps what it would have booked)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from pydantic import BaseModel, Field
from selfheal_shared.core import clock, guards, input_schema, protocol
from selfheal_shared.core.errors import InputInvalid, NothingFound
from selfheal_shared.core.handler import remediator
from selfheal_shared.core.models import parse
from selfheal_shared.data.ingestion_store import scope_buckets
from selfheal_shared.platform import maintenance_window as mw
from selfheal_shared.platform import maintenance_window_store as store


class PlanRequest(BaseModel):
    input: dict[str, Any]
    executionId: str = Field(min_length=1)
    #: False before the guard step (validate and read), True after it (book the window).
    book: bool = False


def _window(raw: dict[str, Any], execution_id: str) -> mw.Window:
    now = clock.now()
    if raw.get("trigger") == "schedule":
        s = parse(mw.ScheduledStart, raw, "scheduled maintenance_window input")
        try:
            fired = clock.parse_aws_time(s.scheduledTime)
        except ValueError:
            raise InputInvalid(f"scheduledTime: {s.scheduledTime[:40]!r} is not a time") from None
        return mw.window(
            fired + timedelta(minutes=s.leadMinutes),
            s.durationMinutes,
            now=now,
            trigger="schedule",
            requested_by="eventbridge-scheduler",
            reason=s.reason,
            execution_id=execution_id,
            field="scheduledTime + leadMinutes",
        )
    data = input_schema.check(mw.AUTOMATION, raw)
    return mw.window(
        mw.parse_start(data["start"], "start"),
        int(data["durationMinutes"]),
        now=now,
        trigger="manual",
        requested_by=str(data.get("requestedBy") or "console"),
        reason=str(data["reason"]),
        execution_id=execution_id,
    )


@remediator
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    req = parse(PlanRequest, event, "maintenance_window start")
    w = _window(req.input, req.executionId)
    run = protocol.begin(
        req,
        actor=w.requestedBy,
        automation=mw.AUTOMATION,
        incident_id=w.incidentId,
        execution_id=req.executionId,
        context=context,
    )
    cfg = store.config()
    buckets = scope_buckets(cfg.ingestionScope, ("processed", "backup"))
    for role in ("processed", "backup"):
        if role not in buckets:
            raise NothingFound(
                f"no {role} bucket tagged for {cfg.ingestionScope!r}: cannot back up before "
                "the maintenance"
            )
    answer = {
        "incident": w.model_dump(),
        "config": cfg.model_dump(),
        "processedBucket": buckets["processed"],
        "backupBucket": buckets["backup"],
    }
    if not req.book:
        return answer
    starts, ends = (mw.parse_start(t, "window") for t in (w.startsAt, w.endsAt))
    try:
        guards.plan_maintenance(
            mw.SCOPE, starts=starts, ends=ends, reason=w.reason, window_id=w.incidentId
        )
    except guards.MaintenanceConflict as exc:
        run.record("plan_window", why=w.reason, result=f"refused: {exc}")
        raise
    run.record(
        "plan_window",
        why=f"{w.trigger} start by {w.requestedBy}: {w.reason}",
        result=f"maintenance window of {mw.SCOPE} {w.startsAt} to {w.endsAt} in the calendar "
        "(every ONS-platform automation holds its actions then)",
        inverse={
            "api": "dynamodb:DeleteItem",
            "pk": f"maintenance#{mw.SCOPE}",
            "note": "ends the window early",
        },
    )
    return answer
