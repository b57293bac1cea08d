"""The first state of every workflow: claim the incident, so a duplicate delivery of its
trigger starts no second remediation and sends no notification."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field
from selfheal_shared import incidents
from selfheal_shared.handler import remediator
from selfheal_shared.models import parse
from selfheal_shared.observability import logger


class ClaimRequest(BaseModel):
    automation: str = Field(min_length=1, max_length=64)
    executionId: str = Field(min_length=1)
    #: The execution input, whatever it is: validating it is the next state's job.
    input: Any = None


@remediator
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    req = parse(ClaimRequest, event, "claim request")
    key = incidents.incident_key(req.input)
    if key is None:  # a manual start is its own incident
        return {"duplicate": False, "key": None}
    result = incidents.claim(req.automation, key, req.executionId)
    if result["duplicate"]:
        logger.info("duplicate delivery", extra=result)
    return result
