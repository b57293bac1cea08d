"""The ingestion failover incident (runbook 004 "Servidor Principal Offline" and "Erro
P2002"): which alarm transition asked for what, on which ingestion group.

- the primary's health alarm to ALARM: fail over to the backup under the lease;
- the same alarm back to OK: the primary returned, it takes the lease back;
- the P2002 log alarm (a Logs metric filter on "P2002") to ALARM: demote every production
  instance but the lease holder.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

from pydantic import BaseModel, Field

from ..core.errors import InputInvalid
from .ingestion_instances import CONFLICT, FAILOVER, HANDBACK

if TYPE_CHECKING:  # only the alarm parsers import powertools' parser (cold start)
    from ..core.alarm_event import AlarmStateChangeEvent

AUTOMATION = "ingestion_failover"
NAMESPACE = "Aupus/Ingestion"
GROUP_DIMENSION = "IngestionGroup"
HEALTH_METRIC = "InstanceHealthy"
P2002_METRIC = "P2002Errors"
#: How long after the switch the rows are read again: runbook 004 "Após 5 minutos,
#: verificar se erros P2002 pararam" (a conflict); "Aguardar 1-2 minutos e verificar dados
#: chegando" (a failover, a hand-back).
SETTLE_SECONDS = {CONFLICT: 300, FAILOVER: 120, HANDBACK: 120}
#: After the settle Wait, how many readings wait for the kept instance's first row, and the
#: workflow's wait between two (ArrivalWait): runbook 004 "Aguardar 1-2 minutos e
#: verificar dados chegando" (12 readings 10 s apart: about two minutes).
VERIFY_ROUNDS = 12
ARRIVAL_WAIT_SECONDS = 10


class FailoverIncident(BaseModel):
    incidentId: str
    executionId: str
    group: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{0,62}$")
    trigger: str
    reason: str


def trigger_of(metric: str, state: str) -> str | None:
    """What an alarm transition asks for; None for one this workflow does not handle."""
    if metric == HEALTH_METRIC:
        return {"ALARM": FAILOVER, "OK": HANDBACK}.get(state)
    if metric == P2002_METRIC and state == "ALARM":
        return CONFLICT
    return None


def incident_from_alarm(alarm: AlarmStateChangeEvent, execution_id: str) -> FailoverIncident:
    dims: dict[str, str] = {}
    metric = ""
    for m in alarm.detail.configuration.metrics:
        if m.metricStat and m.metricStat.metric.namespace == NAMESPACE:
            dims, metric = m.metricStat.metric.dimensions, m.metricStat.metric.name
            break
    trigger = trigger_of(metric, alarm.detail.state.value)
    if trigger is None:
        raise InputInvalid(
            f"detail.configuration.metrics: no {NAMESPACE} {HEALTH_METRIC} (ALARM/OK) or "
            f"{P2002_METRIC} (ALARM) metric in alarm {alarm.detail.alarmName!r}"
        )
    group = dims.get(GROUP_DIMENSION, "")
    basis = f"{alarm.account}|{alarm.detail.alarmName}|{alarm.detail.state.timestamp}"
    return FailoverIncident(
        incidentId=f"{AUTOMATION}-{hashlib.sha256(basis.encode()).hexdigest()[:16]}",
        executionId=execution_id,
        group=group,
        trigger=trigger,
        reason=f"alarm {alarm.detail.alarmName} {alarm.detail.state.value}: "
        f"{alarm.detail.state.reason}"[:500],
    )
