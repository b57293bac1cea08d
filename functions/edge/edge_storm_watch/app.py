"""Watch a site/fleet outage the ladder opened (`edge_storm`): page it on the ladder's
clock (runbook 000 §6 through `edges.next_page`: P2 once it has lasted 10 minutes, then
L2 at 30 and L3 at 60; only an operator's silence holds a page), and close it when its
edges return, saying which came back, after how long, and which did not. Its records are
the storm incident's, not the watching edge's."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field
from selfheal_shared.core import clock, config, notify, page_chain, refusals
from selfheal_shared.core.handler import remediator
from selfheal_shared.core.models import parse
from selfheal_shared.core.outcomes import Outcome
from selfheal_shared.core.protocol import Run, begin
from selfheal_shared.edge import edge_pages, edge_registry, edges, storms
from selfheal_shared.edge.edges import EdgeIncident

#: Look at the edges at least this often while a page is still to come ...
MAX_WAIT_SECONDS = 60
#: ... and this often once every level was paged (a storm can last days; the workflow's
#: history must hold them).
EXHAUSTED_WAIT_SECONDS = 600


class StormWatchRequest(BaseModel):
    #: The edge incident of the ladder that opened the storm (it runs this watch).
    incident: EdgeIncident
    stormIncidentId: str = Field(min_length=1)
    stormKey: str = Field(pattern=r"^(site|fleet)-incident#[A-Za-z0-9_-]{1,64}$")


@remediator
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    req = parse(StormWatchRequest, event, "storm watch")
    run = begin(
        req,
        actor="edge_storm_watch",
        automation=edges.AUTOMATION,
        incident_id=req.stormIncidentId,
        execution_id=req.incident.executionId,
        context=context,
    )
    record = edge_registry.get(req.stormKey) or {}
    if record.get("incidentId") != req.stormIncidentId or record.get("status") != "open":
        return {"over": True, "waitSeconds": 0, "outcome": Outcome.NO_ACTION_NEEDED}
    now = clock.now()
    began = datetime.fromisoformat(str(record["began"]))
    kind, scope = str(record["kind"]), str(record["scope"])
    tally = storms.tally(edge_registry.edges_where(None if kind == "fleet" else scope), began)
    if storms.over(tally, now, still_a_storm=_still_a_storm(req.incident, kind, tally)):
        _close(run, record, tally)
        return {"over": True, "waitSeconds": 0, "outcome": Outcome.SKIPPED_BY_GUARD}
    minutes = (now - began).total_seconds() / 60
    paged = [p for p in str(record.get("paged", "")).split(",") if p]
    overrides = edges.parse_page_minutes(config.env("SELFHEAL_EDGE_PAGE_MINUTES", ""))
    base = str(record.get("severity") or "P3")
    severity, level, next_at = edges.next_page(base, minutes, paged, overrides)
    if level:
        scopes = ["fleet"] if kind == "fleet" else [f"site:{scope}", "fleet"]
        if silence := refusals.quiet(scopes):
            run.record(
                f"page_{level}",
                why=f"silenced on {silence['scope']}: {silence.get('reason', '')}",
                result="page suppressed",
                outcome=Outcome.SKIPPED_BY_GUARD,
            )
        elif _page(run, record, level, severity, minutes, tally):
            paged.append(level)
            edge_registry.update(req.stormKey, {"paged": ",".join(paged)})
            severity, level, next_at = edges.next_page(base, minutes, paged, overrides)
        else:  # acknowledged: nobody more is paged; the watch goes on until the site is back
            level, next_at = None, None
    if next_at is None and level is None:
        wait = EXHAUSTED_WAIT_SECONDS
    elif next_at is None:
        wait = MAX_WAIT_SECONDS  # held by a silence: look again
    else:
        wait = max(1, min(MAX_WAIT_SECONDS, int((next_at - minutes) * 60) + 1))
    return {"over": False, "waitSeconds": wait, "outcome": None}


def _still_a_storm(inc: EdgeIncident, kind: str, tally: storms.Tally) -> bool:
    """Would the edges still down open a storm now (`edges.storm`, the same thresholds)?"""
    site_size, fleet_size = edge_registry.fleet_sizes(inc.siteId)
    return (
        edges.storm(
            site_offline=len(tally.still) if kind == "site" else 0,
            site_size=site_size,
            fleet_offline=len(tally.still),
            fleet_size=fleet_size,
            site_min_edges=int(config.env("SELFHEAL_STORM_SITE_MIN_EDGES", "5")),
            fleet_fraction=float(config.env("SELFHEAL_STORM_FLEET_PERCENT", "20")) / 100,
        )
        is not None
    )


def _page(
    run: Run[StormWatchRequest],
    record: dict[str, Any],
    level: str,
    severity: str,
    minutes: float,
    tally: storms.Tally,
) -> bool:
    """Page `level` through the storm's one page chain (its incident id the deduplication
    key; acknowledged: nobody more); False when the chain was acknowledged."""
    kind, scope = record["kind"], record["scope"]
    subject = (
        f"[selfheal] {severity} {kind} incident: {scope} {len(tally.still)} of "
        f"{tally.members} edges offline {int(minutes)} min"
    )
    message = {
        "incidentId": record["incidentId"],
        "automation": run.automation,
        "storm": kind,
        "scope": scope,
        "severity": severity,
        "offlineMinutes": round(minutes, 1),
        "edgesOffline": tally.still,
        "edgesBack": [r.edgeId for r in tally.back],
        "reason": "many edges down together: likely ISP or broker; no per-edge restart",
    }
    return edge_pages.page(
        run,
        incident_id=record["incidentId"],
        began=datetime.fromisoformat(str(record["began"])),
        severity=severity,
        level=level,
        subject=subject,
        message=message,
        why=f"{kind} {scope} offline {minutes:.0f} min ({severity} ladder)",
    )


def _close(run: Run[StormWatchRequest], record: dict[str, Any], tally: storms.Tally) -> None:
    """Closed once (this watch is the incident's only closer), with what came back."""
    kind, scope = record["kind"], record["scope"]
    said = storms.summary(tally)
    edge_registry.close(
        run.request.stormKey,
        {
            "closedAt": clock.now().isoformat(),
            "edgesBack": ",".join(r.edgeId for r in tally.back),
            "edgesNotBack": ",".join(tally.still),
        },
    )
    back = (
        f"{len(tally.back)} of {tally.members} edges back after up to {said['downtimeMinutes']} min"
    )
    missing = f"; not back: {', '.join(tally.still)}" if tally.still else ""
    run.record(
        "storm_closed",
        why=f"the {kind} {scope} outage ended: {back}",
        result=f"closed: {back}{missing}; not fixed by automation (no per-edge action in a storm)",
        outcome=Outcome.SKIPPED_BY_GUARD,
        details=said,
    )
    title = f"[selfheal] RESOLVED {kind} incident {scope}: {back}" + (
        f", {len(tally.still)} not back" if tally.still else ""
    )
    body = {"incidentId": record["incidentId"], "storm": kind, "scope": scope, **said}
    # Ops hear of every storm's end; each level the chain paged gets its one resolve.
    notify.publish("ops", subject=title, message=body)
    page_chain.close(record["incidentId"], subject=title, message=body)
