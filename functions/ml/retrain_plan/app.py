"""Decide what a retrain_model run does, per system (runbook 000 §3): retrain on the weekly
schedule (every system), on a manual request, or on the MAPE alarm ("MAPE > 8% nos últimos
7 dias"), or skip a duplicate alarm delivery. An alarm retrains even right after a
promotion: runbook 000 names no rollback of a model, and the evaluation keeps the serving
model unless the candidate is better."""

from __future__ import annotations

import hashlib
from datetime import timedelta
from typing import Any, Literal

from botocore.exceptions import ClientError
from pydantic import BaseModel, ConfigDict, Field
from selfheal_shared.core import audit, clock, datalake, fanout, input_schema
from selfheal_shared.core.alarm_event import AlarmStateChangeEvent
from selfheal_shared.core.clients import client
from selfheal_shared.core.config import settings
from selfheal_shared.core.errors import InputInvalid, NothingFound
from selfheal_shared.core.handler import remediator
from selfheal_shared.core.models import parse
from selfheal_shared.core.observability import logger
from selfheal_shared.core.outcomes import Outcome
from selfheal_shared.ml import forecast, systems


class PlanRequest(BaseModel):
    input: dict[str, Any]
    executionId: str = Field(min_length=1)


class ScheduledRun(BaseModel):
    model_config = ConfigDict(extra="forbid")

    trigger: Literal["schedule"]
    scheduledTime: str = Field(min_length=1)
    toleratedFailurePercentage: float = Field(default=25, ge=0, le=100)


def system_config(system: str) -> systems.SystemConfig:
    try:
        raw = datalake.read_json(datalake.system_key(system))
    except NothingFound:
        raise InputInvalid(f"systemId: no system {system!r}") from None
    return parse(systems.SystemConfig, raw, f"system settings {datalake.system_key(system)}")


def item(cfg: systems.SystemConfig, incident: str, **overrides: Any) -> dict[str, Any]:
    return {
        "systemId": cfg.systemId,
        "modelType": overrides.get("modelType", cfg.modelType),
        "trainingWindowDays": int(overrides.get("trainingWindowDays", cfg.trainingWindowDays)),
        "timezone": cfg.timezone,
        "action": overrides.get("action", "retrain"),
        "reason": overrides.get("reason", ""),
        "incidentId": incident,
    }


def claim_incident(incident: str, execution: str) -> str | None:
    """One run per alarm transition: None when this execution owns it, else the owner."""
    ddb = client("dynamodb")
    key = {"pk": {"S": f"alarm-incident#{incident}"}}
    try:
        ddb.put_item(
            TableName=settings().guard_table,
            Item={
                **key,
                "executionId": {"S": execution},
                "ttl": {"N": str(int((clock.now() + timedelta(days=30)).timestamp()))},
            },
            ConditionExpression="attribute_not_exists(pk) OR executionId = :me",
            ExpressionAttributeValues={":me": {"S": execution}},
        )
        return None
    except ClientError as exc:
        if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
            raise
    item = ddb.get_item(TableName=settings().guard_table, Key=key, ConsistentRead=True)["Item"]
    return str(item["executionId"]["S"]).rsplit(":", 1)[-1]


@remediator
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    req = parse(PlanRequest, event, "retrain_model start")
    raw, run_id = req.input, req.executionId.rsplit(":", 1)[-1]
    percentage = 100.0  # one item: its failure is the run's, never "systemic"
    if raw.get("trigger") == "schedule":
        run = parse(ScheduledRun, raw, "scheduled retrain_model input")
        trigger, percentage, actor = (
            "schedule",
            run.toleratedFailurePercentage,
            "eventbridge-scheduler",
        )
        systems = datalake.list_ids("systems/")
        if not systems:
            raise NothingFound("no systems under systems/ in the data bucket")
        items = [
            item(
                system_config(s), f"{forecast.AUTOMATION}-{s}-{run_id}", reason="weekly retraining"
            )
            for s in systems
        ]
    elif "detail-type" in raw or "detail" in raw:
        alarm = parse(AlarmStateChangeEvent, raw, "forecast accuracy alarm event")
        if alarm.detail.state.value != "ALARM":
            raise InputInvalid(
                f"detail.state.value: expected 'ALARM', got {alarm.detail.state.value!r}"
            )
        system = alarm.metric_dimensions().get(forecast.DIMENSION, "").strip()
        if not system:
            raise InputInvalid(
                f"detail.configuration.metrics[].metricStat.metric.dimensions.{forecast.DIMENSION}:"
                " missing; cannot tell which system"
            )
        trigger, actor = "alarm", f"cloudwatch:{alarm.detail.alarmName}"
        d = alarm.detail
        basis = f"{alarm.account}|{alarm.region}|{d.alarmName}|{d.state.timestamp}"
        incident = f"{forecast.AUTOMATION}-{hashlib.sha256(basis.encode()).hexdigest()[:16]}"
        cfg = system_config(system)
        reason = f"alarm {alarm.detail.alarmName}: {alarm.detail.state.reason}"[:300]
        holder = claim_incident(incident, req.executionId)
        if holder:
            items = [
                item(
                    cfg,
                    incident,
                    action="skip",
                    reason=f"duplicate alarm: incident {incident} is handled by {holder}",
                )
            ]
        else:
            items = [item(cfg, incident, reason=reason)]
    else:
        data = input_schema.check("retrain_model", raw)
        cfg = system_config(data["systemId"])
        trigger, actor = "manual", str(data.get("requestedBy") or "console")
        items = [
            item(
                cfg,
                f"{forecast.AUTOMATION}-{cfg.systemId}-{run_id}",
                modelType=data["modelType"],
                trainingWindowDays=data["trainingWindowDays"],
                reason=f"manual request by {actor}",
            )
        ]
    logger.set_correlation_id(items[0]["incidentId"])
    tolerated = fanout.tolerated(len(items), percentage)
    fanout.open_run(
        run_id, automation=forecast.AUTOMATION, total=len(items), tolerated_failures=tolerated
    )
    for it in items:
        skip = it["action"] == "skip"
        audit.record(
            incident_id=it["incidentId"],
            execution=req.executionId,
            action="retrain_plan",
            actor=actor,
            why=it["reason"] or trigger,
            result=f"skip {it['systemId']}"
            if skip
            else f"{it['action']} {it['systemId']} "
            f"({it['modelType']}, {it['trainingWindowDays']} days)",
            outcome=Outcome.SKIPPED_BY_GUARD if skip else None,
        )
    incident = items[0]["incidentId"] if len(items) == 1 else f"{forecast.AUTOMATION}-{run_id}"
    return {
        "runId": run_id,
        "incidentId": incident,
        "trigger": trigger,
        "items": items,
        "toleratedFailures": tolerated,
    }
