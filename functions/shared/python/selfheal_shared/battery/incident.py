"""The battery incident every step of a battery workflow receives (runbook 000 §5/§6): one
per edge and raise time, opened from the `Edge Alarm Changed` event `edge_ingress` emits.
Each workflow's alarm model (`cell_imbalance`, `over_temperature`, `estop`,
`battery_alarm`) narrows `BatteryAlarm` to its own kinds."""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Any, TypeVar

from pydantic import ConfigDict, Field

from ..core.basemodel import Model
from ..edge.edges import EDGE_ID

if TYPE_CHECKING:
    from ..core.protocol import Run


class BatteryAlarm(Model):
    """The `Edge Alarm Changed` event's detail, as `edge_ingress` emits it."""

    model_config = ConfigDict(extra="ignore")

    edgeId: str = Field(pattern=f"^{EDGE_ID}$")
    siteId: str = Field(min_length=1, max_length=128)
    #: The alarm kind: each workflow's model names the kinds it takes.
    alarm: str = Field(min_length=1, max_length=64)
    state: str = Field(pattern="^active$")
    severity: str = Field(pattern="^P[1-4]$")
    raisedAt: str = Field(min_length=1, max_length=64)


A = TypeVar("A", bound=BatteryAlarm)


class Incident(Model):
    model_config = ConfigDict(extra="ignore")

    incidentId: str = Field(min_length=1)
    executionId: str = Field(min_length=1)
    edgeId: str = Field(pattern=f"^{EDGE_ID}$")
    siteId: str = Field(min_length=1)
    severity: str = "P1"
    raisedAt: str = Field(min_length=1)
    #: The alarm kind (runbook 000 §6); its silence scope is `alarm:<edgeId>:<kind>`.
    alarm: str = ""


def incident_id(automation: str, edge_id: str, raised_at: str) -> str:
    digest = hashlib.sha256(f"{edge_id}|{raised_at}".encode()).hexdigest()[:12]
    return f"{automation}-{edge_id}-{digest}"


def alarm_scope(edge_id: str, alarm: str) -> str:
    """The scope a silence on one alarm of one edge names (runbook 000 §6
    `POST /alarms/{alarmId}/silence`)."""
    return f"alarm:{edge_id}:{alarm}"


def scopes(incident: Incident) -> tuple[str, ...]:
    """The scopes whose silences cover a battery incident besides the edge itself: its
    alarm, its site and the fleet."""
    alarm = (alarm_scope(incident.edgeId, incident.alarm),) if incident.alarm else ()
    return (*alarm, f"site:{incident.siteId}", "fleet")


class OpenRequest(Model):
    """What each battery workflow's first step gets: its execution and the routed event."""

    executionId: str = Field(min_length=1)
    event: dict[str, Any]


def open_incident(
    event: dict[str, Any],
    context: Any,
    alarm_model: type[A],
    *,
    automation: str,
    actor: str,
    what: str,
) -> tuple[Run[Incident], A]:
    """The incident of a battery alarm (one id per edge and raise time) and its `Run`: the
    same first step for the cell-imbalance, over-temperature, E-Stop and generic battery
    alarm workflows. An edge that is not in the registry is refused naming `detail.edgeId`:
    no command goes to a device that does not exist (an over-temperature with no power
    reading would stop it)."""
    from ..core.errors import InputInvalid, excerpt
    from ..core.models import parse
    from ..core.protocol import begin
    from ..edge import edge_registry

    req = parse(OpenRequest, event, what)
    alarm = parse(alarm_model, req.event.get("detail"), "detail")
    if edge_registry.site_of(alarm.edgeId) == "unknown":
        raise InputInvalid(f"detail.edgeId: {excerpt(alarm.edgeId)} is not in the edge registry")
    incident = Incident(
        incidentId=incident_id(automation, alarm.edgeId, alarm.raisedAt),
        executionId=req.executionId,
        edgeId=alarm.edgeId,
        siteId=alarm.siteId,
        severity=alarm.severity,
        raisedAt=alarm.raisedAt,
        alarm=alarm.alarm,
    )
    run = begin(
        incident,
        actor=actor,
        automation=automation,
        incident_id=incident.incidentId,
        execution_id=req.executionId,
        scopes=scopes(incident),
        context=context,
    )
    return run, alarm
