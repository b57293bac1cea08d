"""The post-incident record (runbook 004 "Checklist Pós-Incidente", issue 12 item 6) of
every service-recovery incident: downtime, data lost (the gap in hours), root cause (from
what the checks found), the actions and who approved each; written to the audit trail and
sent to ops. For a fixed incident it also records the outcome."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field
from selfheal_shared.core import notify
from selfheal_shared.core.outcomes import Outcome
from selfheal_shared.core.protocol import Run, remediator
from selfheal_shared.services import service_spec
from selfheal_shared.services.service_recovery import (
    AUTOMATION,
    ServiceIncident,
    post_incident_record,
)

#: The outcomes this record closes the incident with (the others were recorded by the
#: escalation that carried them).
FINAL = (Outcome.FIXED, Outcome.NO_ACTION_NEEDED, Outcome.SKIPPED_BY_GUARD)


class RecordRequest(BaseModel):
    incident: ServiceIncident
    outcome: Outcome
    #: Whether the service works at the end (FIXED by selfheal, or back during the ladder).
    recovered: bool
    check: dict[str, Any] = Field(default_factory=dict)
    recovery: dict[str, Any] = Field(default_factory=dict)
    guard: dict[str, Any] = Field(default_factory=dict)


@remediator(RecordRequest, actor="service_record", automation=AUTOMATION, what="record")
def handler(run: Run[RecordRequest]) -> dict[str, Any]:
    req = run.request
    spec = service_spec.get(req.incident.service)
    record = post_incident_record(
        spec,
        req.incident,
        outcome=req.outcome.value,
        check=req.check,
        recovery=req.recovery.get("value", req.recovery),
        guard=req.guard,
        recovered=req.recovered,
    )
    run.record(
        "post_incident_record",
        why="runbook 004 'Checklist Pós-Incidente': downtime, data lost, root cause",
        result=f"{spec.name}: {record['downtime']} down; data lost: {record['dataLost']}; "
        f"root cause: {record['rootCause']}",
        outcome=req.outcome if req.outcome in FINAL else None,
        details=record,
    )
    notify.publish(
        "ops",
        subject=f"[selfheal] {AUTOMATION} {spec.name}: {req.outcome.value}",
        message={
            "incidentId": req.incident.incidentId,
            "automation": AUTOMATION,
            "outcome": req.outcome.value,
            "postIncidentRecord": record,
        },
    )
    return record
