"""Scale the instance one class up, only after a person approved it at the gate (runbook
001 "Escalar instância do InfluxDB": `modify-db-instance --db-instance-class ...
--apply-immediately`, the API's UpdateDbInstance `dbInstanceType`). Once per incident (the
effect's key), never down: the class is checked against the one shown at the gate."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field
from selfheal_shared.core import approvals
from selfheal_shared.core.clients import client
from selfheal_shared.core.errors import InputInvalid
from selfheal_shared.core.models import parse
from selfheal_shared.core.protocol import Run, remediator
from selfheal_shared.data import influx_scaling as scaling


class ScaleRequest(BaseModel):
    incident: scaling.InfluxIncident
    #: The gate's output exactly as it came: checked here.
    answer: Any = None
    currentClass: str = Field(min_length=1)
    proposedClass: str = Field(min_length=1)


def _instance(instance_id: str) -> dict[str, Any]:
    got: dict[str, Any] = client("timestream-influxdb").get_db_instance(identifier=instance_id)
    return got


@remediator(ScaleRequest, actor="influx_scale", automation=scaling.AUTOMATION, what="scale")
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

    def landed(_key: str) -> str | None:
        now = _instance(inc.instanceId)["dbInstanceType"]
        return str(now) if now == req.proposedClass else None

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
        return str(got["dbInstanceType"])

    def verify(value: str) -> str | None:
        now = _instance(inc.instanceId)
        if now["dbInstanceType"] != req.proposedClass:
            return f"the instance reports {now['dbInstanceType']}, not {req.proposedClass}"
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
