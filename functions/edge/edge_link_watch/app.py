"""Page on the severity clock while a link behind a connected controller stays lost
(runbook 000 §6; `severity.py` says who when), naming the lost link. The response ends
when the controller clears the alarm, when the controller itself goes offline (the offline
ladder takes the edge up then), or once every level is paged. A silence on the edge, its
COMMUNICATION_LOSS alarm, its site or the fleet holds the page until it ends.

The pages go through the incident's page chain (`edge_pages`): one deduplication key, an
acknowledgement stops them (the watch goes on until the link is back), and the clear sends
one resolve to every level paged."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel
from selfheal_shared.core import clock, page_chain, refusals, severity
from selfheal_shared.core.outcomes import Outcome
from selfheal_shared.core.protocol import Run, recorded_steps, remediator
from selfheal_shared.edge import edge_pages, edge_registry, edges, link_loss
from selfheal_shared.edge.link_loss import LinkIncident

#: Look at the alarm at least this often, so a clear ends the response within it.
MAX_WAIT_SECONDS = 5 * 60

State = Literal["waiting", "cleared", "offline", "exhausted"]


class WatchRequest(BaseModel):
    incident: LinkIncident


@remediator(
    WatchRequest,
    actor="edge_link_watch",
    automation=link_loss.AUTOMATION,
    what="link loss watch",
    scopes=lambda r: link_loss.scopes(r.incident),
)
def handler(run: Run[WatchRequest]) -> dict[str, Any]:
    inc = run.request.incident
    pk = f"link-incident#{inc.incidentId}"
    paged = [p for p in str((edge_registry.get(pk) or {}).get("paged", "")).split(",") if p]
    minutes = (clock.now() - datetime.fromisoformat(inc.raisedAt)).total_seconds() / 60
    done = f"after {minutes:.0f} min; paged: {', '.join(paged) or 'nobody'}"
    if cleared := _cleared(inc):
        run.record(
            "alarm_cleared",
            why=cleared,
            result=f"{inc.link} link back {done}; nothing was done to the edge",
            outcome=Outcome.NO_ACTION_NEEDED,
        )
        page_chain.close(
            inc.incidentId,
            subject=f"[selfheal] RESOLVED {inc.edgeId} {inc.link} link back after "
            f"{minutes:.0f} min",
            message={"incidentId": inc.incidentId, "edgeId": inc.edgeId, "reason": cleared},
        )
        return _out("cleared", reason=f"{cleared} {done}", outcome=Outcome.NO_ACTION_NEEDED)
    edge = edge_registry.get(f"edge#{inc.edgeId}") or {}
    if edge.get("state") in ("offline", "autonomous"):
        why = f"{inc.edgeId} itself went {edge.get('state')} at {edge.get('since')}"
        run.record(
            "controller_offline",
            why=why,
            result=f"the edge offline ladder takes it up {done}",
            outcome=Outcome.NO_ACTION_NEEDED,
        )
        # This incident ends here: those it paged hear so, and who has the edge now.
        page_chain.close(
            inc.incidentId,
            subject=f"[selfheal] {inc.edgeId} {inc.link} link loss handed over: the "
            "controller itself is offline",
            message={
                "incidentId": inc.incidentId,
                "edgeId": inc.edgeId,
                "reason": f"{why}: the edge offline ladder's incident takes it up",
            },
        )
        return _out("offline", reason=f"{why} {done}", outcome=Outcome.NO_ACTION_NEEDED)
    quiet = refusals.quiet([inc.edgeId, *link_loss.scopes(inc)])
    # On the ladder's clock: a silence after the first page stops it (`page_chain.hold`).
    ladder = minutes
    if (chain := page_chain.get(inc.incidentId)) is not None:
        ladder = page_chain.hold(chain, silenced=quiet is not None).ladder_minutes()
    level, next_at = severity.page_due(inc.severity, ladder, paged)
    if level is not None:
        if quiet:
            run.record(
                f"page_{level}",
                why=f"silenced on {quiet['scope']} until {quiet['endsAt']}: "
                f"{quiet.get('reason', '')}",
                result=f"page to {level} suppressed",
                outcome=Outcome.SKIPPED_BY_GUARD,
            )
            ends = datetime.fromisoformat(str(quiet["endsAt"]))
            return _out("waiting", wait=(ends - clock.now()).total_seconds() + 1)
        if not _page(run, level, minutes):  # acknowledged: no more pages, watched until back
            return _out("waiting", wait=MAX_WAIT_SECONDS)
        paged.append(level)
        edge_registry.update(pk, {"paged": ",".join(paged)})
        level, next_at = severity.page_due(inc.severity, ladder, paged)
    if level is None and next_at is None:
        reason = f"{inc.link} link of {inc.edgeId} still lost after paging {', '.join(paged)}"
        return _out("exhausted", reason=reason)
    wait = 1.0 if next_at is None else (next_at - ladder) * 60 + 1
    return _out("waiting", wait=wait)


def _page(run: Run[WatchRequest], level: str, minutes: float) -> bool:
    """Page `level` on the incident's chain; False once someone acknowledged or resolved it."""
    inc = run.request.incident
    return edge_pages.page(
        run,
        incident_id=inc.incidentId,
        began=datetime.fromisoformat(inc.raisedAt),
        severity=inc.severity,
        level=level,
        subject=f"[selfheal] {inc.severity} {inc.edgeId} {inc.link} link lost "
        f"{minutes:.0f} min (controller connected)",
        why=f"COMMUNICATION_LOSS ({inc.link} link) active {minutes:.0f} min: {inc.severity} "
        "(runbook 000 §6)",
        message={
            "incidentId": inc.incidentId,
            "automation": link_loss.AUTOMATION,
            "edgeId": inc.edgeId,
            "siteId": inc.siteId,
            "severity": inc.severity,
            "link": inc.link,
            "evidence": inc.evidence,
            "minutes": round(minutes, 1),
            "request": "check the link between the controller and its "
            + ("BMS" if inc.link == "bms" else "inverter" if inc.link == "inverter" else "devices")
            + " on site; the controller was not restarted (its cloud link works)",
            "done": recorded_steps(inc.incidentId),
        },
    )


def _cleared(inc: LinkIncident) -> str | None:
    """Why the alarm is over, or None while it is the one still active."""
    last = edge_registry.get(f"alarm#{inc.edgeId}#{edges.COMMUNICATION_LOSS}") or {}
    if last.get("state") != "cleared" or not last.get("ts"):
        return None
    at = datetime.fromtimestamp(float(last["ts"]), UTC)
    if at < datetime.fromisoformat(inc.raisedAt):
        return None
    return f"COMMUNICATION_LOSS cleared by {inc.edgeId} at {at.isoformat()}"


def _out(
    state: State, *, wait: float = 0, reason: str = "", outcome: Outcome | None = None
) -> dict[str, Any]:
    seconds = int(max(1, min(MAX_WAIT_SECONDS, wait))) if state == "waiting" else 0
    return {"state": state, "waitSeconds": seconds, "reason": reason, "outcome": outcome}
