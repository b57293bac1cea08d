"""An edge outage's pages (one edge's or a site's/fleet's storm) through its one page chain
(`core/page_chain.py`): the incident id is the deduplication key, an acknowledgement stops
the ladder (the incident stays open), and the close resolves every level paged. The ladder's
clock stays the outage's own (`edges.next_page`: P3 becomes P2 after 10 minutes offline)."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from ..core import page_chain
from ..core import severity as severity_policy
from ..core.outcomes import Outcome

if TYPE_CHECKING:
    from ..core.protocol import Run


def page(
    run: Run[Any],
    *,
    incident_id: str,
    began: datetime,
    severity: str,
    level: str,
    subject: str,
    message: dict[str, Any],
    why: str,
) -> bool:
    """Page `level` and record it; False (nothing sent, nobody more to page) once the chain
    was acknowledged or resolved (a person ended it). A level an earlier attempt claimed
    counts as paged (and is published again if that attempt never delivered it)."""
    chain = page_chain.open_chain(
        incident_id,
        system=severity_policy.SYSTEM,
        severity=severity,
        started=began,
        automation=run.automation,
        subject=subject,
        message=message,
    )
    for lost in page_chain.undelivered(chain):
        page_chain.page(chain, lost, subject=subject, message=message, again=True)
    if chain.acknowledgedBy or chain.resolvedAt:
        return False
    if page_chain.page(chain, level, subject=subject, message=message):
        run.record(f"page_{level}", why=why, result=f"paged {level}", outcome=Outcome.ESCALATED)
        return True
    latest = page_chain.get(incident_id) or chain
    return not (latest.acknowledgedBy or latest.resolvedAt)
