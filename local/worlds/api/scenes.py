"""The api domain's scenes: the external mapper as a real process on 127.0.0.1."""

from __future__ import annotations

from contextlib import ExitStack

from local.world_api import Pipeline, Scene
from local.worlds.ingestion import Processes

from .mapper import mapper, register

#: The mapper the samples' alarms name.
MAPPER = "embed"


def _mapper(p: Pipeline, stack: ExitStack) -> None:
    """The external mapper down for its first 3 probes, then healthy; registered with the
    engine's AppConfig flag profile (`fallbackMapper` off)."""
    procs = Processes()
    stack.callback(procs.kill_all)
    register(p, MAPPER, procs.add(MAPPER, mapper(fail_first=3)))


SCENES = {"mapper_degraded": Scene(_mapper)}
