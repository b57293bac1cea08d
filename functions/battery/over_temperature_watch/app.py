"""Hold the restart lock until telemetry shows the temperature below the safe limit for a
sustained period (runbook 000 §5a "NÃO religar até normalizar temperatura"); then release
it and say so. Nothing is restarted by automation. A maintenance page a silence held goes
out once the silence ends (runbook 000 §6)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel
from selfheal_shared.battery import battery
from selfheal_shared.battery.incident import Incident, scopes
from selfheal_shared.battery.over_temperature import AUTOMATION
from selfheal_shared.core import clock, refusals
from selfheal_shared.core.outcomes import Outcome
from selfheal_shared.core.protocol import Run, remediator
from selfheal_shared.edge import edge_registry

POLL_SECONDS = 300
GIVE_UP_HOURS = 24


class WatchRequest(BaseModel):
    incident: Incident


def _time(value: Any) -> datetime | None:
    return datetime.fromisoformat(str(value)) if value else None


@remediator(WatchRequest, actor="over_temperature_watch", automation=AUTOMATION, what="watch")
def handler(run: Run[WatchRequest]) -> dict[str, Any]:
    inc = run.request.incident
    _page_after_silence(run)
    key = battery.lock_key(inc.edgeId)
    lock = edge_registry.get(key) or {}
    edge = edge_registry.get(f"edge#{inc.edgeId}") or {}
    now = clock.now()
    temp = edge.get("temperatureC")
    release, since, why = battery.release_due(
        temperature=float(temp) if temp not in (None, "") else None,
        read_at=_time(edge.get("temperatureAt")),
        normal_since=_time(lock.get("normalSince")),
        now=now,
    )
    if release:
        edge_registry.update(key, {"state": "released", "releasedAt": now.isoformat()})
        run.record(
            "restart_lock_released",
            why=why,
            result=f"{inc.edgeId}: restart lock released; the system was not restarted by "
            "automation",
            outcome=Outcome.FIXED,
        )
        battery.resolve(run, inc, why=why)
        quiet = refusals.quiet([inc.edgeId, *scopes(inc)])
        levels = ["ops"] if quiet else ["ops", "l1"]  # a silence holds the page to L1
        return {
            "released": True,
            "exhausted": False,
            "waitSeconds": 0,
            "why": why,
            "levels": levels,
        }
    edge_registry.update(key, {"normalSince": since.isoformat() if since else ""})
    held_since = _time(lock.get("since")) or now
    exhausted = now - held_since >= timedelta(hours=GIVE_UP_HOURS)
    return {
        "released": False,
        "exhausted": exhausted,
        "waitSeconds": POLL_SECONDS,
        "why": why,
        "levels": [],
    }


def _page_after_silence(run: Run[WatchRequest]) -> None:
    """The maintenance page a silence held (runbook 000 §6: the silence holds pages only
    while it lasts): once it has ended, the incident resumes and the page goes out."""
    inc = run.request.incident
    if battery.paged(inc.incidentId, battery.MAINTENANCE_PAGE):
        return
    if refusals.quiet([inc.edgeId, *scopes(inc)]):
        return  # still silenced: nothing new to record every poll
    if battery.page_maintenance(run, inc, resumed=True):
        run.record(
            "silence_ended",
            why="the maintenance page was held by a silence that has ended",
            result="the incident resumed: maintenance was paged",
        )
