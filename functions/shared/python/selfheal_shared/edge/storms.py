"""A site or fleet outage after it was opened (runbook 000 §1/§6, E1): which edges it took
down, which came back and when, and when it is over. One incident for many edges, so it
is paged on the ladder's one clock (`edges.next_page`) and closed once, with what came
back. No I/O here."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from . import edges

#: The edges the outage took down went silent within this long of its start.
TOGETHER = timedelta(minutes=edges.TOGETHER_MINUTES)
#: Once what is still offline is no longer a storm, wait this long after the last return
#: for stragglers before closing (a whole site does not reconnect in the same second).
SETTLE = timedelta(minutes=5)


@dataclass(frozen=True)
class Return:
    edgeId: str
    offlineSince: str
    backAt: str

    @property
    def downtime_minutes(self) -> float:
        gone = datetime.fromisoformat(self.backAt) - datetime.fromisoformat(self.offlineSince)
        return round(gone.total_seconds() / 60, 1)


@dataclass(frozen=True)
class Tally:
    back: list[Return]
    still: list[str]

    @property
    def members(self) -> int:
        return len(self.back) + len(self.still)


def tally(scope_edges: list[dict[str, Any]], began: datetime) -> Tally:
    """The edges of the scope whose outage began with the storm's (within `TOGETHER`):
    those online again since, with when, and those still down."""
    back: list[Return] = []
    still: list[str] = []
    for e in scope_edges:
        since = str(e.get("offlineSince") or "")
        if not since or abs(datetime.fromisoformat(since) - began) > TOGETHER:
            continue
        edge_id = str(e["pk"]).removeprefix("edge#")
        if e.get("state") == "online" and e.get("since"):
            back.append(Return(edge_id, since, str(e["since"])))
        else:
            still.append(edge_id)
    return Tally(sorted(back, key=lambda r: r.edgeId), sorted(still))


def over(t: Tally, now: datetime, *, still_a_storm: bool) -> bool:
    """Over when every edge is back, or when what is still down is no longer a storm and
    the last return was `SETTLE` ago (the rest did not come back with the site)."""
    if not t.back:
        return False
    if not t.still:
        return True
    last = max(datetime.fromisoformat(r.backAt) for r in t.back)
    return not still_a_storm and now - last >= SETTLE


def summary(t: Tally) -> dict[str, Any]:
    """What the closure says: which edges came back and their downtime, which did not."""
    return {
        "edgesBack": [
            {"edgeId": r.edgeId, "backAt": r.backAt, "downtimeMinutes": r.downtime_minutes}
            for r in t.back
        ],
        "edgesNotBack": t.still,
        "downtimeMinutes": max((r.downtime_minutes for r in t.back), default=0.0),
    }
