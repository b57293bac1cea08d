"""List the silent sources of a scope (runbook 004 "Verificar quais equipamentos estão
enviando dados"), read only. A scope whose topics a described ingestion service subscribes
(services/*.json `ingestionScopes`) is read from that service ("Verificar tópicos MQTT
subscritos"): topics it lost are reloaded by the workflow (restart through the recovery
remediator), and after the reload this step reports what came back. Any other scope is
read from its processed bucket; nothing is reloaded there, and the summary says so."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field
from selfheal_shared.core import clock
from selfheal_shared.core.protocol import Run, remediator
from selfheal_shared.data import ingestion
from selfheal_shared.data.ingestion_store import processed_bucket, recent_keys
from selfheal_shared.services import service_ops, service_spec
from selfheal_shared.services.service_recovery import ServiceIncident, minutes_since

HISTORY_DAYS = 7
NOT_DONE = (
    "subscriptions NOT reloaded: the reload (runbook 004 'Recarregar tópicos MQTT') is not "
    "automated; nothing was changed"
)


class SurveyRequest(BaseModel):
    incident: ingestion.PartialDataIncident
    #: "survey" first; "after_reload" / "recheck" compare with the equipment silent `before`.
    step: Literal["survey", "after_reload", "recheck"] = "survey"
    before: list[str] = Field(default_factory=list)


def summary(scope: str, report: dict[str, Any], alarm: str) -> str:
    silent = report["silent"]
    if silent:
        listed = ", ".join(
            f"{s['source']} (nothing since {s['lastRecordBefore']}, {s['silentForHours']:g} h)"
            for s in silent
        )
        return (
            f"{scope}: {len(silent)} of {report['expected']} sources silent: {listed}; "
            f"{NOT_DONE}; check these sources' equipment and network and the broker's "
            f"subscriptions ({alarm})"
        )
    return (
        f"{scope}: no source silent (all {report['expected']} sent within their usual gap); "
        f"the drop is not silence: check the data quality (runbook 004 'Verificar qualidade "
        f"dos dados'); {NOT_DONE} ({alarm})"
    )


@remediator(
    SurveyRequest,
    actor="partial_data_survey",
    automation=ingestion.PARTIAL_DATA,
    what="partial-data incident",
)
def handler(run: Run[SurveyRequest]) -> dict[str, Any]:
    inc = run.request.incident
    spec = service_spec.for_scope(inc.scope)
    if spec is not None:
        return from_service(run, spec)
    now = clock.now()
    bucket = processed_bucket(inc.scope)
    report = ingestion.silence_report(
        ingestion.hourly_counts(recent_keys(bucket, now, HISTORY_DAYS)),
        now,
        history_days=HISTORY_DAYS,
    )
    report["summary"] = summary(inc.scope, report, inc.reason)
    names = ", ".join(s["source"] for s in report["silent"]) or "none"
    run.record(
        "list_silent_sources",
        why=f"{inc.reason}; which sources send data (runbook 004)",
        result=f"{report['silentCount']} of {report['expected']} sources silent in "
        f"s3://{bucket}: {names}",
        details=report,
    )
    return report


def from_service(run: Run[SurveyRequest], spec: service_spec.ServiceSpec) -> dict[str, Any]:
    inc, req = run.request.incident, run.request
    # After a reload, the report waits on the host (at most 30 s) for the equipment silent
    # before to send again: their first readings are real-time, the workflow's steps not.
    waited = req.before if req.step == "after_reload" else []
    report = service_ops.equipment_report(spec, expect=waited)
    silent, registered = report["silent"], len(report["equipment"])
    subscribed = report["subscribedTopics"]
    known = isinstance(subscribed, int)
    missing = registered - subscribed if isinstance(subscribed, int) else 0
    topics = (
        f"{subscribed} of {registered} topics subscribed"
        if known
        else "subscriptions unknown (/health/mqtt gave no subscribedTopics)"
    )
    if req.step == "survey":
        topics += f" ({missing} not subscribed)" if missing > 0 else ""
        run.record(
            "check_subscribed_topics",
            why=f"{inc.reason}; runbook 004 'Verificar tópicos MQTT subscritos'",
            result=f"{spec.name}: {topics}; {len(silent)} of {registered} equipment silent in "
            f"the last hour: {', '.join(silent) or 'none'}",
            details=report,
        )
        cause = (
            f"{missing} of {registered} equipment topics not subscribed by {spec.name}: "
            f"reload them (restart {spec.name})"
            if missing > 0
            else "the backend's subscriptions could not be read: not reloaded"
            if silent and not known
            else "every topic is subscribed: the silent equipment itself sends nothing "
            "(runbook 004 'Equipamentos offline: verificar fisicamente'); not reloaded"
            if silent
            else "no equipment silent: the drop is not silence: check the data quality "
            "(runbook 004 'Verificar qualidade dos dados'); nothing reloaded"
        )
        summary = f"{inc.scope}: {len(silent)} of {registered} equipment silent: " + (
            f"{', '.join(silent) or 'none'}; {topics}; {cause}"
        )
        answer: dict[str, Any] = {
            **report,
            "silentCount": len(silent),
            "expected": registered,
            # How many registered equipment's topics the backend does not subscribe (which
            # ones, /health/mqtt does not say): the reload's plan.
            "notSubscribed": max(missing, 0),
            "summary": summary,
        }
        hours = [report["silentHours"].get(eq) for eq in silent]
        # Beyond the report's 24 h an equipment's gap is "24 h or more": counted as 24.
        gap = max((24.0 if h is None else float(h) for h in hours), default=0.0)
        # The post-incident record's input: what the survey found, the data gap so far.
        answer["check"] = {
            "rootCause": cause,
            "status": {"data": {"hoursSinceLastData": round(gap, 2)}},
            "minutesAtCheck": round(minutes_since(inc.startedAt), 2),
        }
        if not silent and missing <= 0:
            return answer  # nothing silent: the data on-call looks at quality
        if missing > 0:
            answer["reloadService"] = spec.name
        # The service incident the recovery and the record read; its escalation policy's
        # ladder counts from the incident's start, as M1's.
        answer["serviceIncident"] = ServiceIncident(
            incidentId=inc.incidentId,
            executionId=inc.executionId,
            service=spec.name,
            severity=spec.severity,
            runbook="004 Dados Parciais - Recarregar tópicos MQTT",
            startedAt=inc.startedAt,
            reason=inc.reason,
            trigger=inc.trigger,
            escalation=spec.escalation,
        ).model_dump()
        return answer
    came_back = [eq for eq in req.before if eq not in silent]
    summary = (
        f"{inc.scope} {'after the reload' if req.step == 'after_reload' else 'on recheck'}: "
        f"came back: {', '.join(came_back) or 'none'}; still silent: {', '.join(silent) or 'none'}"
        f" ({topics})"
    )
    run.record(
        "report_what_came_back" if req.step == "after_reload" else "recheck_silent_equipment",
        why="runbook 004: 'Verificar logs de reconexão ... Carregando XX tópicos MQTT'",
        result=summary,
        details={**report, "cameBack": came_back},
    )
    return {
        **report,
        "cameBack": came_back,
        "stillSilent": silent,
        "summary": summary,
        "outcome": "FIXED" if not silent else "NOT_FIXED",
    }
