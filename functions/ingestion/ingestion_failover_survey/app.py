"""Read the ingestion group as it really is (runbook 004 "Identificar todas as instâncias
ativas"): each instance on its host (the OBSERVE document: `.env`, pm2, `/health/mqtt`,
P2002 lines; unreachable when not delivered), who wrote recently and which roles are fenced
(the WRITERS document on the database host), and the lease. Decides which instance keeps
production and what the others need; changes nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import BaseModel, Field
from selfheal_shared.core import clock
from selfheal_shared.core.alarm_event import AlarmStateChangeEvent
from selfheal_shared.core.handler import remediator
from selfheal_shared.core.models import parse
from selfheal_shared.core.outcomes import Outcome
from selfheal_shared.core.protocol import begin
from selfheal_shared.ingestion import ingestion_instances as inst
from selfheal_shared.ingestion import ingestion_lease
from selfheal_shared.ingestion.ingestion_failover import (
    AUTOMATION,
    FailoverIncident,
    incident_from_alarm,
)

ACTOR = "ingestion_failover_survey"


class SurveyStart(BaseModel):
    input: dict[str, Any]
    executionId: str = Field(min_length=1)
    #: 1 when surveyed again because the lease moved since the first survey.
    attempt: int = Field(default=0, ge=0, le=1)
    #: True when surveyed again after waiting out a hand-back's cooldown (done once).
    handbackRetried: bool = False


def _cooldown_end(at: datetime, minutes: int) -> datetime:
    """When the cooldown that began `at` is over, on a whole second (a Wait state's timestamp
    has no fraction, and the retry must not come a fraction too early)."""
    end = (at + timedelta(minutes=minutes)).astimezone(UTC)
    return end.replace(microsecond=0) + timedelta(seconds=1) if end.microsecond else end


def _cooldown(
    incident: FailoverIncident,
    reg: inst.Registry,
    keep: str | None,
    holder: str | None,
    retried: bool,
) -> tuple[str, str] | None:
    """Why a hand-back is refused now (the last failover, the lease's switch, was less than
    the group's cooldown ago) and when the cooldown ends. None for anything else. The first
    refusal is tried again when the cooldown ends (the workflow waits); a hand-back refused
    again after that is left to people, and the page says from when it may be done."""
    if incident.trigger != inst.HANDBACK or keep is None or keep == holder:
        return None
    last = ingestion_lease.switched(incident.group)
    if last is None:
        return None
    at, by = last
    minutes = (clock.now() - at).total_seconds() / 60
    if minutes >= reg.handbackCooldownMinutes:
        return None
    end = _cooldown_end(at, reg.handbackCooldownMinutes).strftime("%Y-%m-%dT%H:%M:%SZ")
    then = (
        f"already tried again once after a cooldown: the hand-back may be done from {end} "
        "(runbook 004 passo 5, by people or the next alarm)"
        if retried
        else f"tried again at {end}, when the cooldown ends, with the same checks"
    )
    return (
        f"hand-back to {keep} refused: the last failover ({by}) was {minutes:.0f} min ago, "
        f"within the {reg.handbackCooldownMinutes}-minute cooldown; {holder or 'nobody'} "
        f"stays in production, nothing switched; {then}"
    ), end


def describe(observed: list[inst.Observed]) -> str:
    return ", ".join(o.describe() for o in observed)


@remediator
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    start = parse(SurveyStart, event, "ingestion failover start")
    alarm = parse(AlarmStateChangeEvent, start.input, "ingestion alarm event")
    incident = incident_from_alarm(alarm, start.executionId)
    run = begin(
        incident,
        actor=ACTOR,
        automation=AUTOMATION,
        incident_id=incident.incidentId,
        execution_id=incident.executionId,
        context=context,
    )
    reg = inst.load(incident.group)
    observed = [inst.observe(i) for i in reg.instances]
    written = inst.writers(reg.database)
    lease = ingestion_lease.read(incident.group)
    holder = ingestion_lease.holder_of(lease, clock.now())
    keep = inst.choose(observed, incident.trigger, holder)
    roles = {i.name: i.role for i in reg.instances}
    steps = inst.plan(observed, keep, roles, written.insert) if keep else []
    held = f"lease held by {holder} (token {lease.token})" if lease and holder else "lease free"
    cooldown = _cooldown(incident, reg, keep, holder, start.handbackRetried)
    refused, retry_at = cooldown if cooldown else (None, None)
    # Counts and times go to the details: the result is what the timeline shows.
    result = f"{describe(observed)}; database {written.fenced()}; {held}; " + (
        f"keep {keep}: {', '.join(f'{s.action} {s.name}' for s in steps) or 'nothing to change'}"
        if keep
        else "no healthy instance to put in production"
    )
    run.record(
        "survey_instances",
        why=f"{incident.reason} ({incident.trigger})"
        + (", again: the lease moved since the first survey" if start.attempt else "")
        + (", again: the hand-back's cooldown is over" if start.handbackRetried else ""),
        result=result,
        details={
            "observed": [o.to_dict() for o in observed],
            "writers": written.to_dict(),
            "lease": lease and lease.to_dict(),
        },
    )
    if refused:
        run.record(
            "handback_refused",
            why=f"{incident.reason}: a hand-back within the cooldown would flip production "
            "back and forth",
            result=refused,
            outcome=Outcome.SKIPPED_BY_GUARD,
        )
    return {
        "refused": refused,
        #: When a refused hand-back's cooldown ends (the workflow's Wait timestamp), or None.
        "retryAt": retry_at,
        "handbackRetried": start.handbackRetried,
        "attempt": start.attempt,
        "incident": incident.model_dump(),
        "keep": keep,
        "leaseToken": lease.token if lease else None,
        "summary": result,
    }
