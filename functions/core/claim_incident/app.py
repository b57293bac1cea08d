"""The first state of every workflow: claim the incident, so a duplicate delivery of its
trigger starts no second remediation and sends no notification."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field
from selfheal_shared.core import incidents
from selfheal_shared.core.errors import InputInvalid, excerpt
from selfheal_shared.core.handler import remediator
from selfheal_shared.core.models import parse
from selfheal_shared.core.observability import logger

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
    key = incidents.incident_key(req.input)
    if key is None:  # a manual start is its own incident
        return {"duplicate": False, "key": None}
    result = incidents.claim(req.automation, key, req.executionId)
    if result["duplicate"]:
        logger.info("duplicate delivery", extra=result)
    return result
