"""The data domain's scenes: the person who acknowledges a flagged source, the ingestion
service whose subscriptions were lost (the services world's processes)."""

from __future__ import annotations

from local.world_api import Scene
from local.worlds.services import ServiceSim, scene


def _subscriptions_lost(sim: ServiceSim) -> None:
    sim.seed_points(hours_ago=1)
    sim.lose_topics(["inv-02", "inv-03", "meter-01"])
    sim.start_all()


SCENES = {
    # The validation alarm flags ons-geracao: resuming means acknowledging it (runbook 003).
    "freeze_ingestion": Scene(acknowledge=("ons-geracao",)),
    "partial_data.aupus_coverage_alarm": scene(_subscriptions_lost),
}
