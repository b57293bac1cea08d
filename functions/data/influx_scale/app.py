"""Scale the instance one class up, only after a person approved it at the gate (runbook
001 "Escalar instância do InfluxDB": `modify-db-instance --db-instance-class ...
--apply-immediately`, the API's UpdateDbInstance `dbInstanceType`). Once per incident (the
effect's key), never down: the class is checked against the one shown at the gate. The
gate may be answered hours after the figures were read, so the alarm is read again first:
back to OK means nothing is scaled (NO_ACTION_NEEDED, recorded)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field
from selfheal_shared.core import approvals
from selfheal_shared.core.clients import client
from selfheal_shared.core.errors import InputInvalid
from selfheal_shared.core.models import parse
from selfheal_shared.core.outcomes import Outcome
from selfheal_shared.core.protocol import Run, remediator
from selfheal_shared.data import influx_scaling as scaling
from selfheal_shared.platform import maintenance_window as mw


class ScaleRequest(BaseModel):
    incident: scaling.InfluxIncident
    #: The gate's output exactly as it came: checked here.
    answer: Any = None
    currentClass: str = Field(min_length=1)
    proposedClass: str = Field(min_length=1)


def _instance(instance_id: str) -> dict[str, Any]:
    got: dict[str, Any] = client("timestream-influxdb").get_db_instance(identifier=instance_id)
    return got


def _alarm_state(name: str) -> str:
    found = client("cloudwatch").describe_alarms(AlarmNames=[name])["MetricAlarms"]
    return str(found[0]["StateValue"]) if found else "MISSING"


@remediator(
    ScaleRequest,
    actor="influx_scale",
    automation=scaling.AUTOMATION,
    what="scale",
    # The in-step guard re-check reads the data platform's maintenance window too.
    scopes=mw.calendar_scopes,
)
def handler(run: Run[ScaleRequest]) -> dict[str, Any]:
    req = run.request
    inc = req.incident
    approvals.close(inc.incidentId)
    decision = parse(approvals.Decision, req.answer, "gate answer")
    if decision.decision != "resume":
        raise InputInvalid(f"decision.decision: {decision.decision!r} does not approve scaling")
    if scaling.next_class(req.currentClass) != req.proposedClass:
        raise InputInvalid(
            f"proposedClass: {req.proposedClass!r} is not one step up from {req.currentClass!r}"
        )
    target = f"influxdb:{inc.instanceId}"
    why = f"{decision.operator} approved scaling at the gate: {decision.reason}"
    if not run.begun("scale_instance", target):
        state = _alarm_state(inc.alarmName)
        if state == "OK":
            text = (
                f"alarm {inc.alarmName} is OK again when the approval came: instance "
                f"{inc.instanceId} not scaled, still {req.currentClass}"
            )
            run.record(
                "scale_instance",
                why=why,
                result=text,
                outcome=Outcome.NO_ACTION_NEEDED,
                details={"alarmState": state},
            )
            return {
                "action": "scale_instance",
                "changed": False,
                "result": text,
                "operator": decision.operator,
            }

    def started(now: dict[str, Any]) -> str | None:
        """Right after UpdateDbInstance AWS reports UPDATING_INSTANCE_TYPE with the old
        class still shown: the update is under way once the instance is no longer AVAILABLE
        or shows the new class. The class itself is checked by the Watch."""
        if now["status"] != "AVAILABLE" or now["dbInstanceType"] == req.proposedClass:
            return f"{now['status']} {now['dbInstanceType']}"
        return None

    def landed(_key: str) -> str | None:
        return started(_instance(inc.instanceId))

    def do(_key: str) -> str:
        now = _instance(inc.instanceId)
        if now["dbInstanceType"] != req.currentClass:
            raise InputInvalid(
                f"currentClass: instance {inc.instanceId} is {now['dbInstanceType']} now, not "
                f"the {req.currentClass} shown at the gate; nothing was changed"
            )
        got = client("timestream-influxdb", sdk_retries=False).update_db_instance(
            identifier=inc.instanceId, dbInstanceType=req.proposedClass
        )
        return f"{got['status']} {got['dbInstanceType']}"

    def verify(value: str) -> str | None:
        now = _instance(inc.instanceId)
        if started(now) is None:
            return (
                f"the instance reports AVAILABLE as {now['dbInstanceType']}: no update to "
                f"{req.proposedClass} under way"
            )
        return None

    text = f"instance {inc.instanceId}: {req.currentClass} -> {req.proposedClass} (update started)"
    run.act(
        "scale_instance",
        target=target,
        why=why,
        plan=f"UpdateDbInstance {inc.instanceId} dbInstanceType {req.proposedClass}",
        do=do,
        landed=landed,
        verify=verify,
        result=text,
        details=lambda reported: {"reported": reported},
        inverse={
            "api": "timestream-influxdb:UpdateDbInstance",
            "identifier": inc.instanceId,
            "dbInstanceType": req.currentClass,
        },
    )
    return {
        "action": "scale_instance",
        "changed": True,
        "result": text,
        "operator": decision.operator,
    }
