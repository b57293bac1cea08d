"""Start a silence from the console: `{scope, durationMinutes, reason}` (runbook 000 §6).
Scopes: an edge (system) id, `site:<siteId>`, `alarm:<edgeId>:<ALARM_TYPE>` (one alarm of
one edge, the runbook's `/alarms/{alarmId}/silence`) or `fleet`."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from selfheal_shared.core import audit, guards
from selfheal_shared.core.handler import remediator
from selfheal_shared.core.models import parse


class SilenceRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    scope: str = Field(pattern=guards.SILENCE_SCOPE.pattern)
    durationMinutes: int = Field(ge=1, le=7 * 24 * 60)
    reason: str = Field(min_length=3, max_length=300)


class Start(BaseModel):
    input: dict[str, Any]
    executionId: str


@remediator
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    start = parse(Start, event, "silence start")
    req = parse(SilenceRequest, start.input, "silence input")
    result = guards.silence(req.scope, minutes=req.durationMinutes, reason=req.reason)
    audit.record(
        incident_id=f"silence-{req.scope}",
        execution=start.executionId,
        action="silence",
        actor="edge_silence_set",
        why=req.reason,
        result=f"silenced {req.scope} until {result['until']}",
        inverse={"api": "DeleteItem silence#" + req.scope + " (or let it expire)"},
    )
    return result
