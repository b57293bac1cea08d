"""Stop one kind of ingestion resource: disable rules, stop RUNNING executions, or
disable event source mappings. Only what is running is touched, and only that is
returned, so the manifest lists exactly what a resume may turn back on."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel
from selfheal_shared import ingestion
from selfheal_shared.clients import client
from selfheal_shared.protocol import Run, remediator

ACTOR = "freeze_resources"


class FreezeKind(BaseModel):
    kind: Literal["rules", "executions", "mappings"]
    incident: ingestion.FreezeIncident
    discovery: dict[str, Any]


def _stop(run: Run[FreezeKind], what: str, do: Any, item: dict[str, Any]) -> dict[str, Any]:
    """One resource stopped through the protocol: the guards are read again before each
    one, so a kill switch set mid-freeze stops the next resource, and each has its record."""
    kind = run.request.kind
    run.act(
        f"freeze_{kind}",
        target=run.request.incident.scope,
        why=run.request.incident.reason,
        plan=f"stop {what}",
        do=do,
        result=f"stopped {what}",
        inverse={"api": _INVERSE[kind], "items": [item]},
        details=lambda _: {"item": item},
    )
    return item


def _rules(run: Run[FreezeKind]) -> list[dict[str, Any]]:
    events = client("events")
    done = []
    for rule in run.request.discovery["rules"]:
        current = events.describe_rule(Name=rule["name"], EventBusName=rule["bus"])["State"]
        if current != "ENABLED":
            continue  # already off: not ours to turn back on later
        item = {"arn": rule["arn"], "name": rule["name"], "bus": rule["bus"]}
        done.append(
            _stop(
                run,
                f"rule {rule['name']}",
                lambda r=rule: events.disable_rule(Name=r["name"], EventBusName=r["bus"]),
                item,
            )
        )
    return done


def _executions(run: Run[FreezeKind]) -> list[dict[str, Any]]:
    sfn = client("stepfunctions")
    inc = run.request.incident
    done = []
    for machine in run.request.discovery["stateMachines"]:
        pages = sfn.get_paginator("list_executions").paginate(
            stateMachineArn=machine, statusFilter="RUNNING"
        )
        for page in pages:
            for ex in page["executions"]:
                arn = ex["executionArn"]
                done.append(
                    _stop(
                        run,
                        f"execution {arn.rsplit(':', 1)[-1]}",
                        lambda a=arn: sfn.stop_execution(
                            executionArn=a,
                            error="selfheal.IngestionFrozen",
                            cause=f"{inc.incidentId}: {inc.reason}"[:32768],
                        ),
                        {"executionArn": arn, "stateMachineArn": machine},
                    )
                )
    return done


def _mappings(run: Run[FreezeKind]) -> list[dict[str, Any]]:
    lam = client("lambda")
    done = []
    for m in run.request.discovery["mappings"]:
        state = lam.get_event_source_mapping(UUID=m["uuid"])["State"]
        if state not in ("Enabled", "Enabling", "Updating"):
            continue
        item = {"uuid": m["uuid"], "function": m["function"], "source": m["source"]}
        done.append(
            _stop(
                run,
                ingestion.describe_mapping(m),
                lambda u=m["uuid"]: lam.update_event_source_mapping(UUID=u, Enabled=False),
                item,
            )
        )
    return done


_INVERSE = {
    "rules": "events:EnableRule",
    "executions": "states:StartExecution (re-drive with the original input; "
    "a stopped execution cannot resume)",
    "mappings": "lambda:UpdateEventSourceMapping Enabled=true",
}


@remediator(FreezeKind, actor=ACTOR, automation=ingestion.AUTOMATION, what="freeze step")
def handler(run: Run[FreezeKind]) -> dict[str, Any]:
    kind = run.request.kind
    done = {"rules": _rules, "executions": _executions, "mappings": _mappings}[kind](run)
    return {"kind": kind, "count": len(done), "items": done}
