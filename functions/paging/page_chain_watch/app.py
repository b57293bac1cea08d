"""Walk one incident's page chain up its system's escalation policy (`events/escalation/`):
page whoever is due, counted from the incident's start, until someone acknowledges, the
incident ends (the chain is resolved) or every level has been paged; say when to look
again. A silence over the chain's scopes holds its pages until it ends (runbook 000 §6).

The workflow that opened the chain paged what was due at once; this watcher is what makes
L2 at 15 and L3 at 30 minutes happen while that workflow waits on people or signals."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel, Field
from selfheal_shared.core import clock, escalation_policy, page_chain, protocol, refusals
from selfheal_shared.core.handler import remediator
from selfheal_shared.core.models import parse
from selfheal_shared.core.observability import count
from selfheal_shared.core.outcomes import Outcome

AUTOMATION = "page_chain"


class Opened(BaseModel):
    """The `Page Chain Opened` event's detail (`page_chain.open_chain`)."""

    incidentId: str = Field(min_length=1, max_length=256)


class WatchRequest(BaseModel):
    detail: Opened
    executionId: str = Field(min_length=1)


@remediator
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    req = parse(WatchRequest, event, "page chain watch")
    chain, started_watch = page_chain.watching(req.detail.incidentId)
    run = protocol.begin(
        req,
        actor="page_chain_watch",
        automation=(chain.automation if chain else "") or AUTOMATION,
        incident_id=req.detail.incidentId,
        execution_id=req.executionId,
        context=context,
    )
    if chain is None:
        return _ended(run, f"no page chain for {req.detail.incidentId}: nobody to page")
    if chain.resolvedAt:
        return _ended(run, f"the incident ended at {chain.resolvedAt}: its resolve went out")
    if chain.acknowledgedBy:
        return _ended(
            run, f"acknowledged by {chain.acknowledgedBy} at {chain.acknowledgedAt}: no more pages"
        )
    now = clock.now()
    if started_watch:
        paged = ", ".join(chain.paged) or "nobody yet"
        run.record(
            "page_chain_watch",
            why="the incident's first page asked for its page chain's watcher",
            result=f"watching: paged so far {paged}; the next levels on the {chain.system} "
            "policy's clock until acknowledged or resolved",
        )
    quiet = refusals.quiet(list(chain.scopes))
    chain = page_chain.hold(chain, silenced=quiet is not None, now=now)
    due = chain.due(now)
    if quiet:
        ends = datetime.fromisoformat(str(quiet["endsAt"]))
        if due.level is not None:
            run.record(
                f"page_{due.level}",
                why=f"silenced on {quiet['scope']} until {quiet['endsAt']}: "
                f"{quiet.get('reason', '')}",
                result=f"page to {due.level} held until the silence ends",
                outcome=Outcome.SKIPPED_BY_GUARD,
            )
        return _waiting(ends + timedelta(seconds=1), "silenced")
    for level in page_chain.undelivered(chain, now):
        page_chain.page(
            chain, level, subject=chain.subject, message=_message(chain, level), again=True
        )
        run.record(
            f"page_{level}",
            why="its page was claimed but never delivered",
            result=f"paged {level} again",
        )
    policy = escalation_policy.load(chain.system)
    ladder = ", ".join(f"{lv} at {m} min" for lv, m in policy.schedule(chain.severity))
    while (due := (page_chain.get(chain.incidentId) or chain).due(now)).level is not None:
        level = due.level
        if not page_chain.page(
            chain, level, subject=_subject(chain, level), message=_message(chain, level)
        ):
            continue  # claimed by another pager (the next level is looked at), or
            # acknowledged or resolved meanwhile (nobody is due any more: the loop ends)
        run.record(
            f"page_{level}",
            why=f"{chain.severity}: nobody acknowledged {chain.minutes(now):.0f} min after the "
            f"incident began ({chain.system} policy: {ladder})",
            result=f"paged {level} ({policy.levels[level].who})",
            outcome=Outcome.ESCALATED,
        )
        count("Escalations", automation=run.automation)
    if due.next_at is not None:
        return _waiting(chain.ladder_at(due.next_at), "next level")
    latest = page_chain.get(chain.incidentId) or chain
    if latest.acknowledgedBy or latest.resolvedAt:
        return _ended(run, "acknowledged or resolved while paging")
    return {
        "outcome": Outcome.ESCALATED,
        "waitUntil": None,
        "reason": f"every level of the {chain.system} policy paged ({', '.join(latest.paged)}); "
        "nobody has acknowledged",
    }


def _subject(chain: page_chain.Chain, level: str) -> str:
    return f"{chain.subject} [{level}: not acknowledged]"[:99]


def _message(chain: page_chain.Chain, level: str) -> dict[str, Any]:
    return {
        **chain.message,
        "incidentId": chain.incidentId,
        "automation": chain.automation or AUTOMATION,
        "escalatedTo": level,
        "minutesSinceStart": round(chain.minutes(), 1),
        "done": protocol.recorded_steps(chain.incidentId),
        "ack": f"selfheal ack {chain.incidentId} --by <name>",
    }


def _waiting(until: datetime, why: str) -> dict[str, Any]:
    return {"outcome": None, "waitUntil": clock.aws_time(max(until, clock.now())), "reason": why}


def _ended(run: protocol.Run[WatchRequest], why: str) -> dict[str, Any]:
    run.record("page_chain_watch_ended", why=why, result="no more pages from this watch")
    return {"outcome": Outcome.NO_ACTION_NEEDED, "waitUntil": None, "reason": why}
