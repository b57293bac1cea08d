"""Hand an incident to people: page the right level with what happened and why.

This is the one failure path of every workflow, so it must work with whatever it
is given: a resolved incident, or only the raw input and the error that stopped it.

A guard's refusal (the guard step's `guard`, or a `GuardRefused` caught from an action) is
paged by the one rule (`refusals`): an escalation of a refusal without `levels` reaches the
levels the rule gives (L1; a P4's ticket to ops; ops only for a silence or a duplicate) on
top of its outcome's, and every escalation of a refusal names it (`refusal` in the page).
"""

from __future__ import annotations

import contextlib
import json
from typing import Any, Literal

from pydantic import BaseModel, Field
from selfheal_shared.core import (
    clock,
    effects,
    escalation_policy,
    notify,
    page_chain,
    protocol,
    refusals,
    severity,
)
from selfheal_shared.core.handler import remediator
from selfheal_shared.core.models import parse
from selfheal_shared.core.observability import count, logger
from selfheal_shared.core.outcomes import Outcome


class ChainRequest(BaseModel):
    """Page on the system's escalation policy (`events/escalation/<system>.json`) through
    the incident's page chain instead of naming levels: whoever is due now, once."""

    system: str = Field(min_length=1)
    severity: str = Field(min_length=1)
    #: When the incident began: the ladder counts from here, not from the first page.
    startedAt: str = Field(min_length=1)
    #: End the chain instead: one resolve to every level it paged.
    close: bool = False


class EscalateRequest(BaseModel):
    automation: str = Field(min_length=1)
    outcome: Outcome
    executionId: str = Field(min_length=1)
    reason: str = ""
    #: The workflow state when it gave up: holds `incident` once resolved and `error` when caught.
    state: dict[str, Any] = Field(default_factory=dict)
    levels: list[str] | None = None
    #: Runbook 000 §6 severity, when the workflow knows it (P4: next business day, a ticket
    #: for ops rather than a page).
    severity: Literal["P1", "P2", "P3", "P4"] | None = None
    chain: ChainRequest | None = None
    #: Page once per execution, outcome and reason (outside a page chain): a retry after the
    #: publish went out (its answer lost) finds the record and pages nobody again.
    once: bool = False


def describe_error(error: dict[str, Any] | None) -> str:
    """`Error: message` from a Step Functions Catch result (Cause is the Lambda error JSON)."""
    if not error:
        return ""
    name, cause = str(error.get("Error", "Error")), error.get("Cause", "")
    with contextlib.suppress(TypeError, ValueError, AttributeError):
        cause = json.loads(cause).get("errorMessage", cause)
    return f"{name}: {cause}" if cause else name


def refused(req: EscalateRequest) -> refusals.Refusal | None:
    """The guard refusal this escalation is about, if it is one: a GuardRefused caught from
    an action (`error`/`refused`), or the guard step's (`guard.proceed` false)."""
    for key in ("error", "refused"):
        if (found := refusals.from_error(req.state.get(key))) is not None:
            return found
    guard = req.state.get("guard")
    if isinstance(guard, dict) and guard.get("proceed") is False:
        return refusals.of(str(guard.get("guard") or ""), str(guard.get("reason", "")))
    return None


@remediator
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    req = parse(EscalateRequest, event, "escalation")
    incident = req.state.get("incident") if isinstance(req.state.get("incident"), dict) else None
    error = req.state.get("error") if isinstance(req.state.get("error"), dict) else None
    incident_id = (incident or {}).get(
        "incidentId"
    ) or f"{req.automation}-{req.executionId.rsplit(':', 1)[-1]}"
    run = protocol.begin(
        req,
        actor="escalate",
        automation=req.automation,
        incident_id=incident_id,
        execution_id=req.executionId,
        context=context,
    )
    reason = "; ".join(p for p in (req.reason, describe_error(error)) if p) or "no reason given"
    refusal = refused(req)
    levels = req.levels or list(notify.LEVELS_FOR[req.outcome])
    sent = (
        effects.key(incident_id, "escalate", req.executionId, f"{req.outcome}:{reason}")
        if req.once and req.chain is None
        else ""
    )
    if sent and (before := effects.prior(incident_id, "escalate", sent)).record is not None:
        return dict(before.value())
    if refusal is not None and req.levels is None:  # named levels are the workflow's choice
        levels = list(dict.fromkeys([*levels, *refusal.levels_now(req.severity)]))
    # What the workflow had done before it stopped, so people know what to undo or finish.
    progress = req.state.get("progress") if isinstance(req.state.get("progress"), dict) else {}
    if req.outcome in (Outcome.FAILED, Outcome.NOT_FIXED):
        run.record(
            req.automation,
            why=reason,
            result=req.outcome.lower(),
            outcome=req.outcome,
            details={"doneBeforeStopping": progress, "error": error},
        )
    message = {
        "incidentId": incident_id,
        "automation": req.automation,
        "outcome": req.outcome,
        "doneBeforeStopping": progress,
        # What was done, from the audit trail: never a constant that names steps.
        "done": protocol.recorded_steps(incident_id),
        "undo": protocol.recorded_undo(incident_id),
        "reason": reason,
        "execution": req.executionId,
        "incident": incident,
    }
    if refusal is not None:
        message["refusal"] = refusal.to_dict()
    subject = f"[selfheal] ESCALATION {req.automation}: {req.outcome}"
    if req.severity:
        message |= {"severity": req.severity, "respondWithin": severity.response_text(req.severity)}
        subject = f"[selfheal] {req.severity} {req.automation}: {req.outcome}"
    if req.chain is not None:
        return _on_chain(run, req.chain, incident_id, subject, message, reason)
    chain = page_chain.get(incident_id)
    if chain is not None and chain.resolvedAt is None:
        return _onto_open_chain(run, req, chain, levels, subject, message, reason)
    if chain is not None and _people_levels(chain, levels):
        return _after_resolve(run, req, chain, subject, message, reason)
    for level in levels:
        notify.publish(level, subject=subject, message=message)
    out = {"incidentId": incident_id, "outcome": req.outcome, "reason": reason, "levels": levels}
    run.record(
        "escalate",
        why=reason,
        result=f"{req.severity + ' to' if req.severity else 'paged'} {', '.join(levels)}",
        outcome=Outcome.ESCALATED,
        details={"key": sent, effects.RETURNED: effects.stored(out)} if sent else None,
    )
    count("Escalations", automation=req.automation)
    logger.warning("escalated", extra={"levels": levels, "reason": reason})
    return out


def _onto_open_chain(
    run: protocol.Run[EscalateRequest],
    req: EscalateRequest,
    chain: page_chain.Chain,
    levels: list[str],
    subject: str,
    message: dict[str, Any],
    reason: str,
) -> dict[str, Any]:
    """The incident already pages people (its chain is open): what the workflow has to
    say goes on that chain, not around it. The levels it names that the ladder has not
    reached are paged on the chain (none once acknowledged); those paged before get the
    news under the chain's deduplication key; a silence over the chain holds the pages (the
    ops queue, which wakes nobody, has the news)."""
    incident_id = chain.incidentId
    if quiet := refusals.quiet(list(chain.scopes)):
        # Paging is held; the news is not lost: the ops queue (no one is woken) has it now,
        # and the chain's next pages list this step among what was done.
        notify.publish("ops", subject=subject, message={**message, "dedupKey": chain.dedup_key})
        result = (
            f"pages held: silenced on {quiet['scope']} until {quiet['endsAt']} "
            f"({quiet.get('reason', '')}); told the ops queue"
        )
        run.record("escalate", why=reason, result=result, outcome=Outcome.SKIPPED_BY_GUARD)
        return {
            "incidentId": incident_id,
            "outcome": req.outcome,
            "reason": reason,
            "levels": ["ops"],
        }
    to_people = _people_levels(chain, levels)
    # The same news on a retry (same execution, same reason): nobody hears it twice.
    news = effects.key(incident_id, "escalate", req.executionId, f"{req.outcome}:{reason}")
    # A notice only for the ops queue (the incident left with people) tells nobody paged.
    paged, updated = (
        page_chain.update(chain, to_people, news=news, subject=subject, message=message)
        if to_people
        else ([], [])
    )
    others = [lv for lv in levels if lv not in to_people]  # the ops queue
    for level in others:
        notify.publish(level, subject=subject, message={**message, "dedupKey": chain.dedup_key})
    latest = page_chain.get(incident_id) or chain
    said = [
        *([f"paged {', '.join(paged)} on the incident's page chain"] if paged else []),
        *([f"update to {', '.join(updated)} (paged before)"] if updated else []),
        *([f"notified {', '.join(others)}"] if others else []),
    ]
    if latest.acknowledgedBy and set(to_people) - set(latest.paged):
        said.append(f"acknowledged by {latest.acknowledgedBy}: no further level paged")
    sent = [*paged, *updated, *others]
    run.record(
        "escalate",
        why=reason,
        result="; ".join(said) or "already said on the incident's page chain",
        outcome=Outcome.ESCALATED if sent else None,
    )
    if sent:
        count("Escalations", automation=req.automation)
    logger.warning("escalated", extra={"levels": sent, "reason": reason, "chain": incident_id})
    return {"incidentId": incident_id, "outcome": req.outcome, "reason": reason, "levels": sent}


def _people_levels(chain: page_chain.Chain, levels: list[str]) -> list[str]:
    """The levels named that page people (on the chain), not the ops queue."""
    people = page_chain.people(chain.system)
    return [lv for lv in levels if lv in people]


def _after_resolve(
    run: protocol.Run[EscalateRequest],
    req: EscalateRequest,
    chain: page_chain.Chain,
    subject: str,
    message: dict[str, Any],
    reason: str,
) -> dict[str, Any]:
    """The incident's chain was resolved (by its workflow or by a person who took it over)
    and everyone paged was sent its resolve: paging them again for it would reopen nothing.
    What the workflow still has to say goes to the ops queue, with who resolved it."""
    by = chain.resolvedBy or "its workflow"
    notify.publish(
        "ops",
        subject=subject,
        message={**message, "dedupKey": chain.dedup_key, "resolvedAt": chain.resolvedAt,
                 "resolvedBy": by},
    )  # fmt: skip
    result = f"resolved at {chain.resolvedAt} by {by}: nobody paged again; ops notified"
    run.record("escalate", why=reason, result=result, outcome=Outcome.ESCALATED)
    logger.warning(
        "escalated", extra={"levels": ["ops"], "reason": reason, "chain": chain.incidentId}
    )
    return {
        "incidentId": chain.incidentId,
        "outcome": req.outcome,
        "reason": reason,
        "levels": ["ops"],
    }


def _on_chain(
    run: protocol.Run[EscalateRequest],
    req: ChainRequest,
    incident_id: str,
    subject: str,
    message: dict[str, Any],
    reason: str,
) -> dict[str, Any]:
    """Page whoever the policy says is due (late levels one after the other), or close the
    chain; say when to look again (`waitUntil`, None once nobody is left to page)."""
    policy = escalation_policy.load(req.system)
    severity = policy.ladder_for(req.severity)
    started = clock.parse_aws_time(req.startedAt)
    chain = page_chain.open_chain(
        incident_id,
        system=req.system,
        severity=severity,
        started=started,
        automation=str(message.get("automation") or ""),
        message=message,
    )
    if req.close:
        levels = page_chain.close(
            incident_id,
            subject=f"[selfheal] RESOLVED {message['automation']}: {incident_id}",
            message=message,
        )
        run.record(
            "resolve",
            why=reason,
            result=f"resolve sent to {', '.join(levels)}" if levels else "nobody was paged",
        )
        return {"incidentId": incident_id, "resolved": levels, "waitUntil": None}
    paged = []
    while (due := (page_chain.get(incident_id) or chain).due()).level is not None:
        if page_chain.page(chain, due.level, subject=subject, message=message):
            paged.append(due.level)
    now = page_chain.get(incident_id) or chain
    wait_until = clock.aws_time(now.ladder_at(due.next_at)) if due.next_at is not None else None
    ladder = ", ".join(f"{lv} at {m} min" for lv, m in policy.schedule(severity))
    if now.acknowledgedBy:
        result = f"acknowledged by {now.acknowledgedBy} at {now.acknowledgedAt}: no more pages"
    elif paged:
        result = f"paged {', '.join(paged)} ({req.system} policy: {ladder})"
    elif wait_until:
        result = f"nobody due yet: next page at {wait_until} ({req.system} policy: {ladder})"
    else:
        result = f"every level paged ({', '.join(now.paged)})"
    # ESCALATED only when this call paged someone: a look that found nobody due is no page.
    run.record("escalate", why=reason, result=result, outcome=Outcome.ESCALATED if paged else None)
    if paged:
        count("Escalations", automation=run.automation)
    return {
        "incidentId": incident_id,
        "paged": paged,
        "pagedSoFar": sorted(now.paged, key=lambda lv: now.paged[lv]),
        "acknowledgedBy": now.acknowledgedBy,
        "waitUntil": wait_until,
    }
