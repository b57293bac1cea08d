"""Many edges of one site (or a share of the fleet) down together: one site/fleet
incident, paged once, and no edge restarted one by one."""

from __future__ import annotations

import os
from typing import Any

from pydantic import BaseModel
from selfheal_shared import clock, edge_registry, edges, guards, notify
from selfheal_shared.edges import EdgeIncident as Incident
from selfheal_shared.outcomes import Outcome
from selfheal_shared.protocol import Run, remediator


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
        site_min_edges=int(os.environ.get("SELFHEAL_STORM_SITE_MIN_EDGES", "5")),
        fleet_fraction=float(os.environ.get("SELFHEAL_STORM_FLEET_PERCENT", "20")) / 100,
    )
    counts = {
        "siteOffline": site_offline,
        "siteSize": site_size,
        "fleetOffline": fleet_offline,
        "fleetSize": fleet_size,
    }
    if kind is None:
        return {"storm": False, "outcome": None, **counts}
    scope = inc.siteId if kind == "site" else "fleet"
    storm_id = f"{edges.AUTOMATION}-{kind}-{scope}-{clock.now():%Y%m%dT%H%M}"
    holder = edge_registry.claim(
        f"{kind}-incident#{scope}",
        {"incidentId": storm_id, "since": clock.now().isoformat(), "kind": kind},
    )
    first = holder is None
    storm_id = storm_id if first else str(holder.get("incidentId", storm_id))  # type: ignore[union-attr]
    why = (
        f"{site_offline} of {site_size} edges at site {inc.siteId} offline "
        f"({fleet_offline} of {fleet_size} in the fleet): likely ISP or broker, not the edges"
    )
    silenced = guards.silenced([inc.edgeId, *edges.silence_scopes(inc)])
    if first and not silenced:
        notify.publish(
            "l1",
            subject=f"[selfheal] P2 {kind} incident: {scope} edges offline",
            message={"incidentId": storm_id, "kind": kind, "scope": scope, "reason": why, **counts},
        )
    run.record(
        edges.AUTOMATION,
        why=why,
        result=f"part of {kind} incident {storm_id}; no per-edge restart",
        outcome=Outcome.SKIPPED_BY_GUARD,
    )
    return {
        "storm": True,
        "outcome": Outcome.SKIPPED_BY_GUARD,
        "kind": kind,
        "stormIncidentId": storm_id,
        "pagedNow": first and not silenced,
        **counts,
    }
