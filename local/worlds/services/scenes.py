"""The services domain's scenes: the described services as real processes on 127.0.0.1,
one of them broken as the sample's alarm says, the SSM agent answering the restarts."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import ExitStack

from local.world_api import Pipeline, Scene

from .sim import ServiceSim, running


def scene(setup: Callable[[ServiceSim], None]) -> Scene:
    """The described services on 127.0.0.1, started by `setup` (which breaks one of them as
    the sample's alarm says), the SSM agent answering the restarts."""

    def stage(p: Pipeline, stack: ExitStack) -> None:
        stack.enter_context(running(p, setup))

    return Scene(stage, services=True)


def _api_down(sim: ServiceSim) -> None:
    sim.start_all()
    sim.stop("equivalence-api")  # runbook 002 "API fora do ar"


def _inference_hung(sim: ServiceSim) -> None:
    sim.start_all()
    sim.hang("inference")  # accepts connections, never answers: only a timeout sees it


def _worker_stuck(sim: ServiceSim) -> None:
    sim.start_all(equivalence_worker="stuck")
    sim.push_jobs(25)  # runbook 002 "Worker não consome": the backlog grows


def _ingestion_stale(sim: ServiceSim) -> None:
    sim.seed_points(hours_ago=2.5)  # runbook 004: no data beyond 2 h
    sim.start_all(aupus_ingestion="stale")


SCENES = {
    "service_recovery.api_health_alarm": scene(_api_down),
    "service_recovery.inference_health_alarm": scene(_inference_hung),
    "service_recovery.worker_backlog_alarm": scene(_worker_stuck),
    "service_recovery.ingestion_stale_alarm": scene(_ingestion_stale),
}
