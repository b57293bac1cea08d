"""Stop one kind of ingestion resource: disable rules, stop RUNNING executions, or
disable event source mappings. Only what is running is touched, and only that is
returned, so the manifest lists exactly what a resume may turn back on."""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import BaseModel
from selfheal_shared.core.clients import client
from selfheal_shared.core.protocol import Run, remediator
from selfheal_shared.data import ingestion
from selfheal_shared.platform import maintenance_window as mw

ACTOR = "freeze_resources"


class FreezeKind(BaseModel):
    kind: Literal["rules", "executions", "mappings"]
    incident: ingestion.FreezeIncident
    discovery: dict[str, Any]


def _stop(
    run: Run[FreezeKind], what: str, do: Any, stopped: Any, item: dict[str, Any]
) -> dict[str, Any]:
    """One resource stopped through the protocol: the guards are read again before each
    one, so a kill switch set mid-freeze stops the next resource, and each has its record.
    `stopped()`: whether the resource is already stopped (the effect landed)."""
    kind = run.request.kind
    run.act(
        f"freeze_{kind}",
        target=run.request.incident.scope,
        step=_step(item),
        why=run.request.incident.reason,
        plan=f"stop {what}",
        do=lambda _key: do(),
        landed=lambda _key: {} if stopped() else None,
        result=f"stopped {what}",
        inverse={"api": _INVERSE[kind], "items": [item]},
        details=lambda _: {"item": item},
    )
    return item


def _step(item: dict[str, Any]) -> str:
    return json.dumps(item, sort_keys=True)


def _begun(run: Run[FreezeKind]) -> list[dict[str, Any]]:
    """Items an earlier attempt of this step began to stop: no longer running, but theirs
    to list in the manifest (a retried step must not drop what it already froze)."""
    steps = run.begun_steps(f"freeze_{run.request.kind}", run.request.incident.scope)
    return [json.loads(s) for s in steps if s]


def _rules(run: Run[FreezeKind]) -> list[dict[str, Any]]:
    events = client("events")
    begun = _begun(run)
    done = []
    for rule in begun + run.request.discovery["rules"]:
        item = {"arn": rule["arn"], "name": rule["name"], "bus": rule["bus"]}

        def state(r: dict[str, Any] = item) -> str:
            return str(events.describe_rule(Name=r["name"], EventBusName=r["bus"])["State"])

        if item in done or (item not in begun and state() != "ENABLED"):
            continue  # already off: not ours to turn back on later
        done.append(
            _stop(
                run,
                f"rule {rule['name']}",
                lambda r=item: events.disable_rule(Name=r["name"], EventBusName=r["bus"]),
                lambda state=state: state() == "DISABLED",
                item,
            )
        )
    return done


def _executions(run: Run[FreezeKind]) -> list[dict[str, Any]]:
    sfn = client("stepfunctions")
    inc = run.request.incident
    running = [
        {"executionArn": ex["executionArn"], "stateMachineArn": machine}
        for machine in run.request.discovery["stateMachines"]
        for page in sfn.get_paginator("list_executions").paginate(
            stateMachineArn=machine, statusFilter="RUNNING"
        )
        for ex in page["executions"]
    ]
    done: list[dict[str, Any]] = []
    for item in _begun(run) + running:
        if item in done:
            continue
        arn = item["executionArn"]
        done.append(
            _stop(
                run,
                f"execution {arn.rsplit(':', 1)[-1]}",
                lambda a=arn: sfn.stop_execution(
                    executionArn=a,
                    error="selfheal.IngestionFrozen",
                    cause=f"{inc.incidentId}: {inc.reason}"[:32768],
                ),
                lambda a=arn: sfn.describe_execution(executionArn=a)["status"] != "RUNNING",
                item,
            )
        )
    return done


def _mappings(run: Run[FreezeKind]) -> list[dict[str, Any]]:
    lam = client("lambda")
    begun = _begun(run)
    done: list[dict[str, Any]] = []
    for m in begun + run.request.discovery["mappings"]:
        item = {"uuid": m["uuid"], "function": m["function"], "source": m["source"]}

        def state(u: str = item["uuid"]) -> str:
            return str(lam.get_event_source_mapping(UUID=u)["State"])

        if item in done or (
            item not in begun and state() not in ("Enabled", "Enabling", "Updating")
        ):
            continue
        done.append(
            _stop(
                run,
                ingestion.describe_mapping(m),
                lambda u=item["uuid"]: lam.update_event_source_mapping(UUID=u, Enabled=False),
                lambda state=state: state() in ("Disabled", "Disabling"),
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


@remediator(
    FreezeKind,
    actor=ACTOR,
    automation=ingestion.AUTOMATION,
    what="freeze step",
    scopes=mw.calendar_scopes,
)
def handler(run: Run[FreezeKind]) -> dict[str, Any]:
    kind = run.request.kind
    done = {"rules": _rules, "executions": _executions, "mappings": _mappings}[kind](run)
    return {"kind": kind, "count": len(done), "items": done}
