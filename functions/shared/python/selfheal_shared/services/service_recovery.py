"""The service-recovery procedure (runbooks 002, 003, 004; issue 12 items 1, 2, 6):
status -> recent logs -> dependencies first -> restart -> verify -> escalate with what was
found. Pure decisions here; the handlers in functions/service_* call AWS through
service_ops."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from ..core import audit, clock
from .service_ops import Probe
from .service_spec import ServiceSpec

AUTOMATION = "service_recovery"
HOUR = 3600.0
#: What a status command says of a process that is not running (`host_checks`).
NOT_RUNNING = re.compile(
    r"docker compose ps: \S+ Exited|systemctl status: Active: (failed|inactive)"
    r"|pm2: (\S+ (stopped|errored)|no \S+)"
)


class ServiceIncident(BaseModel):
    incidentId: str = Field(min_length=1)
    executionId: str = Field(min_length=1)
    service: str = Field(min_length=1)
    severity: str
    runbook: str
    #: When the trouble started (the alarm's state change, or the manual request).
    startedAt: str
    reason: str
    trigger: Literal["alarm", "manual"]
    #: The escalation policy that pages for it (`ServiceSpec.escalation`); its ladder counts
    #: from `startedAt`.
    escalation: str = Field(min_length=1)

    def began(self) -> datetime:
        """`startedAt` as an instant (UTC when it names no offset)."""
        at = datetime.fromisoformat(self.startedAt.replace("Z", "+00:00"))
        return at if at.tzinfo else at.replace(tzinfo=UTC)


def budget_key(service: str) -> str:
    return f"service-restart#{service}"


def root_cause(spec: ServiceSpec, status: Probe, deps: list[Probe]) -> str:
    """What the steps found, in the runbook's order: a dependency down explains the rest."""
    down = [d for d in deps if not d.up]
    if down:
        return "; ".join(f"dependency {d.service} down ({d.detail})" for d in down)
    if status.up:
        return "none: the service answers"
    detail = status.detail
    topics = status.data.get("mqtt", {}).get("subscribedTopics")
    mode = status.data.get("envMode")
    if spec.kind == "ingestion" and mode not in (None, "production"):
        return (f"MQTT_MODE={mode or '(not set)'} in .env: readings are not saved (runbook "
                "004 passo 3: DEVE SER production); selfheal does not set it: another "
                "instance may be in production (never two)")  # fmt: skip
    if spec.kind == "ingestion" and topics == 0:
        return f"no MQTT topic subscribed (0 topics); {detail.split('; ')[-1]}"
    if "hung" in detail:
        return f"process hung: {detail}"
    if "not answering" in detail or NOT_RUNNING.search(detail):
        return f"process not running: {detail}"
    return detail


def minutes_since(iso: str) -> float:
    return max(0.0, (clock.now() - datetime.fromisoformat(iso)).total_seconds() / 60)


def post_incident_record(
    spec: ServiceSpec,
    incident: ServiceIncident,
    *,
    outcome: str,
    check: dict[str, Any],
    recovery: dict[str, Any],
    guard: dict[str, Any],
    recovered: bool,
) -> dict[str, Any]:
    """Runbook 004 "Checklist Pós-Incidente": downtime, data lost, root cause, actions and who
    approved each, from the audit trail (only what was done)."""
    minutes = round(minutes_since(incident.startedAt), 1)
    gap_hours = float(check.get("status", {}).get("data", {}).get("hoursSinceLastData") or 0)
    if spec.kind == "ingestion":
        lost = round(gap_hours + (minutes - check.get("minutesAtCheck", 0.0)) / 60, 2)
        data_lost = (
            f"{lost:g} h without data points (gap until recovery)"
            if recovered
            else f"{lost:g} h without data points so far (not recovered)"
        )
    elif spec.kind == "worker":
        depth = check.get("status", {}).get("data", {}).get("depth")
        queued = f" ({depth} queued at the first check)" if isinstance(depth, int) else ""
        lost_queue = [
            d["service"]
            for d in check.get("dependencies", [])
            if not d.get("up") and spec.verify.queueService == d.get("service")
        ]
        data_lost = (
            f"unknown: {lost_queue[0]} was down; jobs queued in it before may be gone "
            "(check the producers)"
            if lost_queue
            else f"none: jobs waited in the queue{queued}"
        )
    else:
        data_lost = "none stored; requests failed while it was down"
    actions = []
    for r in audit.history(incident.incidentId):
        if r["action"].endswith("_intent") or r["action"] in ("post_incident_record",):
            continue
        approved = {
            "restart_service": f"remediation_guards ({guard.get('reason', 'passed')}) and the "
            f"restart budget ({spec.restartsPerHour}/h)",
            "escalate": f"automatic (escalation policy {incident.escalation})",
        }.get(r["action"], "read only: no approval needed")
        actions.append(
            {"action": r["action"], "by": r["actor"], "result": r["result"], "approvedBy": approved}
        )
    return {
        "service": spec.name,
        "severity": incident.severity,
        "outcome": outcome,
        "resolved": recovered,
        "startedAt": incident.startedAt,
        "downtimeMinutes": minutes,
        "downtime": f"{minutes:g} min" + ("" if recovered else " and counting"),
        "dataLost": data_lost,
        "rootCause": check.get("rootCause") or "not identified",
        # Credited to selfheal only when its own restart was verified (FIXED).
        "whatFixedIt": recovery.get("summary", "")
        if outcome == "FIXED"
        else "back after the escalation, not through selfheal's restart"
        if recovered
        else "",
        "actions": actions,
        "postMortemDue": minutes > 60,
    }
