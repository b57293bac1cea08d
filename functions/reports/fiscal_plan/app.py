"""Decide what a fiscal_report run covers: the previous month for every organization (the
day-1 schedule), or one organization and month (a manual run, checked against the JSON
Schema published with the workflow)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from selfheal_shared.core import clock, datalake, fanout, input_schema, protocol
from selfheal_shared.core.errors import InputInvalid, NothingFound
from selfheal_shared.core.handler import remediator
from selfheal_shared.core.models import parse
from selfheal_shared.reports import fiscal


class PlanRequest(BaseModel):
    input: dict[str, Any]
    executionId: str = Field(min_length=1)


class ScheduledRun(BaseModel):
    """What `events/schedules/fiscal_report_monthly.json` passes (Scheduler fills the time)."""

    model_config = ConfigDict(extra="forbid")

    trigger: Literal["schedule"]
    scheduledTime: str = Field(min_length=1)
    formats: list[Literal["pdf", "csv"]] = Field(default=["pdf", "csv"], min_length=1)
    toleratedFailurePercentage: float = Field(default=20, ge=0, le=100)


@remediator
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    req = parse(PlanRequest, event, "fiscal_report start")
    raw = req.input
    run_id = req.executionId.rsplit(":", 1)[-1]
    if raw.get("trigger") == "schedule":
        scheduled = parse(ScheduledRun, raw, "scheduled fiscal_report input")
        try:
            at = clock.parse_aws_time(scheduled.scheduledTime)
        except ValueError:
            raise InputInvalid(
                f"scheduledTime: {scheduled.scheduledTime!r} is not a time"
            ) from None
        period = fiscal.previous_period(at)
        # The month before the fire time is reported only once it is over: a run fired (or
        # started with a scheduledTime) ahead of the month's end would bill half a month.
        fiscal.require_closed(period, clock.now(), f"scheduledTime {scheduled.scheduledTime}")
        organizations = datalake.list_ids("orgs/")
        if not organizations:
            raise NothingFound("no organizations under orgs/ in the data bucket")
        formats, percentage = list(scheduled.formats), scheduled.toleratedFailurePercentage
        requested_by = "eventbridge-scheduler"
    else:
        data = input_schema.check("fiscal_report", raw)
        period = data["period"]
        fiscal.require_closed(period, clock.now())
        try:
            datalake.read(datalake.profile_key(data["organizationId"]))
        except NothingFound:
            raise InputInvalid(
                f"organizationId: no organization {data['organizationId']!r}"
            ) from None
        # one organization: its failure is the run's, never "systemic"
        organizations, formats, percentage = [data["organizationId"]], [data["format"]], 100.0
        requested_by = str(data.get("requestedBy") or "console")
    incident_id = f"{fiscal.AUTOMATION}-{period}-{run_id}"
    run = protocol.begin(
        req,
        actor=requested_by,
        automation=fiscal.AUTOMATION,
        incident_id=incident_id,
        execution_id=req.executionId,
        context=context,
    )
    tolerated = fanout.tolerated(len(organizations), percentage)
    fanout.open_run(
        run_id, automation=fiscal.AUTOMATION, total=len(organizations), tolerated_failures=tolerated
    )
    run.record(
        "fiscal_plan",
        why=f"{'scheduled' if raw.get('trigger') == 'schedule' else 'manual'} run for {period}",
        result=f"{len(organizations)} organizations, formats {', '.join(formats)}, "
        f"tolerating {tolerated} failures",
        details={"organizations": organizations},
    )
    return {
        "runId": run_id,
        "incidentId": incident_id,
        "trigger": "schedule" if raw.get("trigger") == "schedule" else "manual",
        "period": period,
        "formats": formats,
        "organizations": organizations,
        "toleratedFailures": tolerated,
    }
