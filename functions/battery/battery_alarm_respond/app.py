"""Page on the severity's clock while a battery alarm stays active (runbook 000 §6: P1
< 15 min, P2 < 1h, P3 < 4h; the lifo4-ems escalation policy says who when), through the
incident's page chain (acknowledged: nobody more), and say when to look again. The
response ends when the edge clears the alarm (or raises it anew: a new incident) or once
every level is paged. A silence on the edge, its alarm, its site or the fleet suppresses
the page; it goes out when the silence ends if the alarm is still active. A cell failure's
page carries the cells as read now (fresh readings only: a stale one is said, not sent)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, Field
from selfheal_shared.battery import battery, cell_failure
from selfheal_shared.battery.battery_alarm import AUTOMATION, RESPONSE_TEXT
from selfheal_shared.battery.incident import Incident, scopes
from selfheal_shared.core import clock, escalation_policy, page_chain, refusals
from selfheal_shared.core.protocol import Run, remediator
from selfheal_shared.edge import edge_registry

#: Look at the alarm at least this often, so a clear ends the response within it.
MAX_WAIT_SECONDS = 15 * 60

State = Literal["waiting", "cleared", "exhausted"]


class RespondRequest(BaseModel):
    incident: Incident
    respondBy: str = Field(min_length=1)


@remediator(
    RespondRequest,
    actor="battery_alarm_respond",
    automation=AUTOMATION,
    what="battery alarm response",
    scopes=lambda r: scopes(r.incident),
)
def handler(run: Run[RespondRequest]) -> dict[str, Any]:
    inc = run.request.incident
    minutes = (clock.now() - datetime.fromisoformat(inc.raisedAt)).total_seconds() / 60
    chain = page_chain.get(inc.incidentId)
    paged = ", ".join(chain.paged) if chain and chain.paged else "nobody"
    if over := _over(inc):
        reason = f"{over} after {minutes:.0f} min; paged: {paged}"
        run.record("alarm_cleared", why=over, result=reason)
        battery.resolve(run, inc, why=over)
        return _out("cleared", reason=reason)
    extra: dict[str, Any] = {"respondBy": run.request.respondBy, "alarm": inc.alarm}
    cells = ""
    if inc.alarm == cell_failure.KIND:
        reading = cell_failure.reading(edge_registry.get(f"edge#{inc.edgeId}") or {}, clock.now())
        extra["cells"] = reading
        cells = f"; {reading['summary']}"
    battery.page(
        run,
        inc,
        subject=f"{inc.alarm} ({minutes:.0f} min, respond by {run.request.respondBy})",
        summary=f"{inc.alarm} active on {inc.edgeId} (site {inc.siteId}) for {minutes:.0f} "
        f"min; {inc.severity}: respond by {run.request.respondBy}{cells}",
        why=f"{inc.alarm} active {minutes:.0f} min: {inc.severity} "
        f"'{RESPONSE_TEXT[inc.severity]}' (runbook 000 §6)",
        extra=extra,
        watch=False,  # this loop pages each level itself, with the cells as read then
    )
    if quiet := refusals.quiet([inc.edgeId, *scopes(inc)]):  # look again when it ends
        ends = datetime.fromisoformat(str(quiet["endsAt"]))
        return _out("waiting", wait=(ends - clock.now()).total_seconds() + 1)
    chain = page_chain.get(inc.incidentId)
    if chain is None:  # nobody due yet: look again when the first level is
        since = (clock.now() - battery.ladder_start(inc, None)).total_seconds() / 60
        due = escalation_policy.due(
            escalation_policy.load(battery.SYSTEM), inc.severity, since, set()
        )
        return _out("waiting", wait=_until(due.next_at, since))
    due = chain.due()
    if chain.acknowledgedBy:  # people have it: no more pages; its clear still resolves it
        return _out("waiting", wait=MAX_WAIT_SECONDS)
    if due.next_at is None and due.level is None:
        reason = f"{inc.alarm} still active on {inc.edgeId} after paging {', '.join(chain.paged)}"
        return _out("exhausted", reason=reason)
    # Look again when the next level is due (its page goes out then, on this chain).
    # On the ladder's clock: the time a silence held it does not count (`ladder_minutes`).
    return _out("waiting", wait=_until(due.next_at, chain.ladder_minutes()))


def _until(next_at: float | None, minutes: float) -> float:
    """Seconds until minute `next_at` (just after it); at most the longest look when none."""
    if next_at is None:
        return MAX_WAIT_SECONDS
    return (next_at - minutes) * 60 + 1


def _over(inc: Incident) -> str | None:
    """Why this incident's alarm is no longer the active one, or None while it is."""
    last = edge_registry.get(f"alarm#{inc.edgeId}#{inc.alarm}") or {}
    if not last.get("ts"):
        return None  # never seen by the registry: only the routed event knows it
    at = datetime.fromtimestamp(float(last["ts"]), UTC)
    if at < datetime.fromisoformat(inc.raisedAt):
        return None
    if last.get("state") == "cleared":
        return f"{inc.alarm} cleared by {inc.edgeId} at {at.isoformat()}"
    if at > datetime.fromisoformat(inc.raisedAt):
        return f"{inc.alarm} raised anew at {at.isoformat()} (a new incident)"
    return None


def _out(state: State, *, wait: float = 0, reason: str = "") -> dict[str, Any]:
    seconds = int(max(1, min(MAX_WAIT_SECONDS, wait))) if state == "waiting" else 0
    return {"state": state, "waitSeconds": seconds, "reason": reason}
