"""A person ends an incident's page chain (`selfheal resolve`, a PagerDuty `incident.resolved`).

A workflow closes its chain when its remediation is verified; one that failed (an E-Stop
nobody confirmed, a cell imbalance not fixed) hands the incident to people and its chain
stays open. Here the person who dealt with it closes it through `page_chain.close`: one
resolve to every level paged, each once, and the post-incident record carrying who resolved
it and what they stated (root cause, downtime, data lost), marked as theirs. A chain
resolved already is refused saying when and by whom (the same person's retry of a resolve
whose publish failed sends only what is still owed).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from . import audit, page_chain, post_incident

#: The audit action of a person's resolve (the post-incident record is its own action).
ACTION = "pages_resolved"
MAX_TEXT = 1000


@dataclass(frozen=True)
class Resolved:
    chain: page_chain.Chain
    #: The levels this call sent the resolve to.
    levels: list[str]


class AlreadyResolved(ValueError):
    """The chain was resolved before this call; says when and by whom."""

    def __init__(self, chain: page_chain.Chain) -> None:
        who = chain.resolvedBy or f"the automation ({chain.automation or 'its workflow'})"
        super().__init__(
            f"incident: {chain.incidentId!r} was already resolved at {chain.resolvedAt} by {who}"
        )
        self.chain = chain


def _text(value: Any, field: str, what: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{field}: required ({what}), got an empty value")
    if len(value) > MAX_TEXT:
        raise ValueError(f"{field}: longer than {MAX_TEXT} characters")
    return value.strip()


def check(
    *, by: Any, cause: Any, downtime_minutes: float | None = None, data_lost: str | None = None
) -> post_incident.ByPerson:
    """What the person gave, refused naming the field before anything is read or written."""
    name = _text(by, "by", "who resolves the incident")
    stated = _text(cause, "cause", "the root cause as you found it")
    if downtime_minutes is not None and (
        not math.isfinite(downtime_minutes) or downtime_minutes < 0
    ):
        raise ValueError(f"downtime-minutes: {downtime_minutes:g} is not a number of minutes >= 0")
    lost = None
    if data_lost is not None:
        lost = _text(data_lost, "data-lost", "what data was lost, e.g. 'none' or '2 h of samples'")
    return post_incident.ByPerson(
        by=name, cause=stated, downtime_minutes=downtime_minutes, data_lost=lost
    )


def resolve(incident_id: str, person: post_incident.ByPerson, *, actor: str) -> Resolved:
    """End the chain as `person` said. ValueError naming the field: no such chain;
    AlreadyResolved: it was resolved before (by anyone; a retry by the same person first
    sends the resolves still owed, and is refused only when none were)."""
    chain = page_chain.get(incident_id)
    if chain is None:
        raise ValueError(f"incident: no page chain for {incident_id!r} (nobody was paged)")
    if chain.resolvedAt is None:
        page_chain.resolve(incident_id, by=person.by)  # conditional: the first resolve wins
        chain = page_chain.get(incident_id) or chain
        if chain.resolvedBy != person.by:
            raise AlreadyResolved(chain)
        won = True
    elif chain.resolvedBy == person.by:
        won = False  # this person's earlier resolve, maybe cut short: finish what it owes
    else:
        raise AlreadyResolved(chain)
    levels = page_chain.close(
        incident_id,
        subject=f"[selfheal] RESOLVED {chain.severity} {chain.system}: {incident_id} "
        f"(by {person.by})",
        message={
            "incidentId": incident_id,
            "automation": chain.automation,
            "reason": f"resolved by {person.by} ({person.via})",
            "resolvedBy": person.by,
        },
        by_person=person,
    )
    if not won and not levels:
        raise AlreadyResolved(chain)
    audit.record(
        incident_id=incident_id,
        execution=person.via,
        action=ACTION,
        actor=actor,
        why=f"resolved by {person.by} ({person.via}): "
        + (f"cause as stated by them: {person.cause}" if person.cause else person.no_cause),
        result=f"resolve sent to {', '.join(levels)}" if levels else "nobody was paged",
    )
    return Resolved(page_chain.get(incident_id) or chain, levels)
