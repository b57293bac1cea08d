"""Many edges of one site (or a share of the fleet) down together: one site/fleet
incident, and no edge restarted one by one. The ladder that opens it (`holder`) watches it
on the ladder's clock and closes it when the edges return (`edge_storm_watch`); ops are
told at once that it was opened, and pages follow the clock. Every edge of a site silent
together is the site without internet: not an incident (runbook 000 §1), ops are told once
to check the site's router/ISP, nobody is restarted or paged. Except an edge whose last
report had a battery/safety alarm active (P1, runbook 000 §5/§6): autonomy is no reason to
stop looking at an over-heating or E-stopped battery, so its ladder watches it and pages
on the P1 clock until it is back (`kind` site_offline, outcome ESCALATED)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel
from selfheal_shared.core import clock, config, notify, refusals
from selfheal_shared.core.outcomes import Outcome
from selfheal_shared.core.protocol import Run, remediator
from selfheal_shared.edge import edge_registry, edges
from selfheal_shared.edge.edges import EdgeIncident as Incident


class StormRequest(BaseModel):
    incident: Incident


@remediator(StormRequest, actor="edge_storm", automation=edges.AUTOMATION, what="storm check")
def handler(run: Run[StormRequest]) -> dict[str, Any]:
    inc = run.request.incident
    site_offline, fleet_offline = edge_registry.recent_offline(inc.siteId)
    site_size, fleet_size = edge_registry.fleet_sizes(inc.siteId)
    kind = edges.storm(
        site_offline=site_offline,
        site_size=site_size,
        fleet_offline=fleet_offline,
        fleet_size=fleet_size,
        site_min_edges=int(config.env("SELFHEAL_STORM_SITE_MIN_EDGES", "5")),
        fleet_fraction=float(config.env("SELFHEAL_STORM_FLEET_PERCENT", "20")) / 100,
    )
    counts = {
        "siteOffline": site_offline,
        "siteSize": site_size,
        "fleetOffline": fleet_offline,
        "fleetSize": fleet_size,
    }
    # Every edge of the site went offline recently (the counters, two reads) and it is not a
    # fleet storm spread over other sites: then read the site's edges to be sure.
    candidate = site_size >= 2 and site_offline >= site_size
    if candidate and (kind != "fleet" or fleet_offline <= site_offline):
        site_edges = edge_registry.edges_where(inc.siteId)
        since = edges.site_silent(site_edges, site_size)
        if since is not None:
            return _site_offline(run, since, len(site_edges), counts)
    if kind is None:
        return {**_none(), **counts}
    scope = inc.siteId if kind == "site" else "fleet"
    storm_id = f"{edges.AUTOMATION}-{kind}-{scope}-{clock.now():%Y%m%dT%H%M}"
    key = f"{kind}-incident#{scope}"
    holder = edge_registry.claim(
        key,
        {
            "incidentId": storm_id,
            "since": clock.now().isoformat(),
            "began": inc.offlineSince,
            "kind": kind,
            "scope": scope,
            "severity": inc.severity,
            "executionId": inc.executionId,
            "paged": "",
        },
    )
    first = holder is None
    storm_id = storm_id if first else str(holder.get("incidentId", storm_id))  # type: ignore[union-attr]
    why = (
        f"{site_offline} of {site_size} edges at site {inc.siteId} offline "
        f"({fleet_offline} of {fleet_size} in the fleet): likely ISP or broker, not the edges"
    )
    silenced = refusals.quiet([inc.edgeId, *edges.silence_scopes(inc)])
    minutes = (clock.now() - datetime.fromisoformat(inc.offlineSince)).total_seconds() / 60
    sev = edges.severity(inc.severity, minutes)
    if first and not silenced:
        notify.publish(
            "ops",
            subject=f"[selfheal] {sev} {kind} incident opened: {scope} edges offline",
            message={
                "incidentId": storm_id,
                "kind": kind,
                "scope": scope,
                "reason": why,
                "pages": "on the ladder's clock (runbook 000 §6): P2 at 10 min, L2 at 30, "
                "L3 at 60; closed when the edges return",
                **counts,
            },
        )
    run.record(
        edges.AUTOMATION,
        why=why,
        result=f"part of {kind} incident {storm_id}; no per-edge restart"
        + ("; this ladder watches it" if first else ""),
        outcome=Outcome.SKIPPED_BY_GUARD,
    )
    return {
        "storm": True,
        "outcome": Outcome.SKIPPED_BY_GUARD,
        "kind": kind,
        "stormIncidentId": storm_id,
        "stormKey": key,
        "holder": first,
        **counts,
    }


def _none() -> dict[str, Any]:
    """No storm: the keys the workflow selects, empty."""
    return {
        "storm": False,
        "outcome": None,
        "kind": None,
        "stormIncidentId": "",
        "stormKey": "",
        "holder": False,
    }


def _site_offline(
    run: Run[StormRequest], since: str, silent: int, counts: dict[str, int]
) -> dict[str, Any]:
    """The site lost its internet: record it on this edge's incident; tell ops once per
    site outage (the first ladder to see it), as the runbook asks: check router/ISP."""
    inc = run.request.incident
    site_id = f"{edges.AUTOMATION}-site-offline-{inc.siteId}-{since}"
    first = edge_registry.claim(f"site-offline#{inc.siteId}#{since}", {"incidentId": site_id})
    silence = refusals.quiet([inc.edgeId, *edges.silence_scopes(inc)])
    evidence = f"all {silent} edges of site {inc.siteId} went silent together (the last at {since})"
    p1 = inc.severity == "P1"
    if first is None and not silence:
        notify.publish(
            "ops",
            subject=f"[selfheal] {inc.siteId} without internet: edges autonomous, not an incident",
            message={
                "siteId": inc.siteId,
                "reason": evidence,
                "request": "check the site's router / ISP; the edges run on their cached "
                "config and sync their data when back (runbook 000 §1)",
                **counts,
            },
        )
    if p1:
        # Not closed as "no internet": a P1 alarm was active when it went silent.
        run.record(
            edges.AUTOMATION,
            why=f"{evidence}; {inc.edgeId} had a P1 battery/safety alarm active at its last report",
            result="site without internet, but P1: no restart; watched and paged on the P1 "
            "clock until it is back",
            outcome=Outcome.ESCALATED,
            details={"evidence": evidence, "siteIncidentId": site_id, **counts},
        )
    else:
        run.record(
            edges.AUTOMATION,
            why=evidence,
            result="site without internet: the edge runs autonomously, not an incident; "
            "no restart, no replacement, no page",
            outcome=Outcome.SKIPPED_BY_GUARD,
            details={"evidence": evidence, "siteIncidentId": site_id, **counts},
        )
    return {
        "storm": True,
        "outcome": Outcome.ESCALATED if p1 else Outcome.SKIPPED_BY_GUARD,
        "kind": "site_offline",
        "stormIncidentId": site_id,
        "stormKey": "",
        "holder": False,
        **counts,
    }
