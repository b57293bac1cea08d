"""Stop one kind of ingestion resource: disable rules, stop RUNNING executions, or
disable event source mappings. Only what is running is touched, and only that is
returned, so the manifest lists exactly what a resume may turn back on."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel
from selfheal_shared import audit, ingestion
from selfheal_shared.clients import client
from selfheal_shared.handler import remediator
from selfheal_shared.models import parse
from selfheal_shared.observability import logger

ACTOR = "freeze_resources"


class FreezeKind(BaseModel):
    kind: Literal["rules", "executions", "mappings"]
    incident: ingestion.FreezeIncident
    discovery: dict[str, Any]


def _rules(req: FreezeKind) -> list[dict[str, Any]]:
    events = client("events")
    done = []
    for rule in req.discovery["rules"]:
        current = events.describe_rule(Name=rule["name"], EventBusName=rule["bus"])["State"]
        if current != "ENABLED":
            continue  # already off: not ours to turn back on later
        events.disable_rule(Name=rule["name"], EventBusName=rule["bus"])
        done.append({"arn": rule["arn"], "name": rule["name"], "bus": rule["bus"]})
    return done


def _executions(req: FreezeKind) -> list[dict[str, Any]]:
    sfn = client("stepfunctions")
    done = []
    for machine in req.discovery["stateMachines"]:
        pages = sfn.get_paginator("list_executions").paginate(
            stateMachineArn=machine, statusFilter="RUNNING"
        )
        for page in pages:
            for ex in page["executions"]:
                sfn.stop_execution(
                    executionArn=ex["executionArn"],
                    error="selfheal.IngestionFrozen",
                    cause=f"{req.incident.incidentId}: {req.incident.reason}"[:32768],
                )
                done.append({"executionArn": ex["executionArn"], "stateMachineArn": machine})
    return done


def _mappings(req: FreezeKind) -> list[dict[str, Any]]:
    lam = client("lambda")
    done = []
    for m in req.discovery["mappings"]:
        state = lam.get_event_source_mapping(UUID=m["uuid"])["State"]
        if state not in ("Enabled", "Enabling", "Updating"):
            continue
        lam.update_event_source_mapping(UUID=m["uuid"], Enabled=False)
        done.append({"uuid": m["uuid"], "function": m["function"], "source": m["source"]})
    return done


_INVERSE = {
    "rules": "events:EnableRule",
    "executions": "states:StartExecution (re-drive with the original input; "
    "a stopped execution cannot resume)",
    "mappings": "lambda:UpdateEventSourceMapping Enabled=true",
}


@remediator
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    req = parse(FreezeKind, event, "freeze step")
    logger.set_correlation_id(req.incident.incidentId)
    done = {"rules": _rules, "executions": _executions, "mappings": _mappings}[req.kind](req)
    audit.record(
        incident_id=req.incident.incidentId,
        execution=req.incident.executionId,
        action=f"freeze_{req.kind}",
        actor=ACTOR,
        why=req.incident.reason,
        result=f"{len(done)} {req.kind} stopped",
        inverse={"api": _INVERSE[req.kind], "items": done},
        details={"items": done},
    )
    return {"kind": req.kind, "count": len(done), "items": done}
