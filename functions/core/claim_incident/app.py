"""The first state of every workflow: bound the input, refuse an alarm event whose alarm
does not exist, then claim the incident, so a duplicate delivery of its trigger starts no
second remediation and sends no notification.

Bounding here (selfheal_shared/core/input_bounds.py) is what makes every later step safe in AWS
too: an input nested too deep, too big or dated year 9999 would trip a later state's
paths with `States.Runtime` or `States.DataLimitExceeded`, which no Catch takes. Refused
here, it is an `InputInvalid` naming the field that the workflow escalates (ClaimFailed
replaces the state with the error, so the escalation never carries the input).

An alarm event is ordered by the alarm's own timestamps, not by its arrival
(`targets.superseded`): an ALARM whose alarm is back to OK since (delivered after its OK,
or read after it recovered) is recorded as recovered by itself, and a late OK of an alarm
in ALARM again as ignored; either is NO_ACTION_NEEDED, and the execution ends on the claim's
"nothing for this execution" branch (`duplicate`), with no action and no page."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field
from selfheal_shared.core import audit, incidents, input_bounds, targets
from selfheal_shared.core.errors import InputInvalid, excerpt
from selfheal_shared.core.handler import remediator
from selfheal_shared.core.models import parse
from selfheal_shared.core.observability import logger
from selfheal_shared.core.outcomes import Outcome

ALARM_CHANGE = "CloudWatch Alarm State Change"
#: How a JSON value that is not an object is named in the refusal.
JSON_KINDS = {list: "an array", str: "a string", int: "a number", float: "a number",
              bool: "a boolean", type(None): "null"}  # fmt: skip


class ClaimRequest(BaseModel):
    automation: str = Field(min_length=1, max_length=64)
    executionId: str = Field(min_length=1)
    #: The execution input: its fields are the next state's to validate.
    input: Any = None


@remediator
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    req = parse(ClaimRequest, event, "claim request")
    if not isinstance(req.input, dict):
        # Step Functions accepts any JSON as an execution input, but no state of a workflow
        # can hold a result in an array or a string: refused here, named `$`, escalated.
        kind = JSON_KINDS.get(type(req.input), type(req.input).__name__)
        raise InputInvalid(
            f"invalid execution input: $: a JSON object is required, not {kind} "
            f"(got {excerpt(req.input)})"
        )
    input_bounds.check(req.input, "execution input")
    detail = req.input.get("detail")
    key = incidents.incident_key(req.input)
    if req.input.get("detail-type") == ALARM_CHANGE and isinstance(detail, dict):
        alarm = targets.alarm_named(detail.get("alarmName"))  # every alarm workflow
        if (late := targets.superseded(detail, alarm)) is not None:
            return _overtaken(req, key, late)
    if key is None:  # a manual start is its own incident
        return {"duplicate": False, "key": None}
    result = incidents.claim(req.automation, key, req.executionId)
    if result["duplicate"]:
        logger.info("duplicate delivery", extra=result)
    return result


def _overtaken(req: ClaimRequest, key: str | None, late: targets.Superseded) -> dict[str, Any]:
    """Recorded as what it is, on the incident the event would have opened; nothing claimed
    (a later ALARM of the same alarm is a new incident) and nothing acts or pages."""
    action = "alarm_recovered" if late.recovered else "late_alarm_event"
    audit.record(
        incident_id=f"{req.automation}-{key or 'unkeyed'}",
        execution=req.executionId,
        action=action,
        actor="claim_incident",
        why=late.why,
        result="recovered by itself: nothing to do" if late.recovered else "ignored",
        outcome=Outcome.NO_ACTION_NEEDED,
    )
    logger.info("alarm event overtaken by the alarm's state", extra={"why": late.why})
    return {"duplicate": True, "key": key, "superseded": action, "why": late.why}
