"""The data domain's scenes: the person who acknowledges a flagged source, the ingestion
service whose subscriptions were lost (the services world's processes)."""

from __future__ import annotations

from contextlib import ExitStack

from local.world_api import Pipeline, Scene
from local.worlds.data.influx_instance import InfluxInstanceSpec
from local.worlds.services import ServiceSim, scene


def _subscriptions_lost(sim: ServiceSim) -> None:
    sim.seed_points(hours_ago=1)
    sim.lose_topics(["inv-02", "inv-03", "meter-01"])
    sim.start_all()


#: The sample's instance: on db.influx.medium its writes take 1.5 s; on large, 0.3 s.
SLOW_INSTANCE = InfluxInstanceSpec(
    scope="ons-platform",
    writeLatencyMs={"db.influx.medium": 1500.0, "db.influx.large": 300.0},
)


def _slow_instance(p: Pipeline, stack: ExitStack) -> None:
    """`ons-influxdb-prod` as the sample says: its write latency over 1000 ms for the last
    15 minutes and the alarm in ALARM since (the store itself answers)."""
    world = p.world.influx_instances  # type: ignore[attr-defined]
    world.seed(p, SLOW_INSTANCE)
    world.backfill(p, SLOW_INSTANCE, minutes=15)
    p.settle_alarm(
        "ons-influxdb-write-latency",
        "ALARM",
        "Threshold Crossed: 2 out of the last 2 datapoints were greater than the threshold",
    )


SCENES = {
    # The validation alarm flags ons-geracao: resuming means acknowledging it (runbook 003).
    "freeze_ingestion": Scene(acknowledge=("ons-geracao",)),
    "partial_data.aupus_coverage_alarm": scene(_subscriptions_lost),
    "influx_write_failures": Scene(stage=_slow_instance, hold_until_gate=True),
}
