"""The ingestion domain's scenes: two real ingestion instances on 127.0.0.1, registered as
production registers them, their hosts' SSM agent switching them, one holding the group's
lease."""

from __future__ import annotations

import json
from contextlib import ExitStack

from local.world_api import Pipeline, Scene, Stage

from .instances import Process, Processes

#: The ingestion group the samples' alarms name.
GROUP = "aupus-mqtt"


def _processes(stack: ExitStack) -> Processes:
    procs = Processes()
    stack.callback(procs.kill_all)
    return procs


def _register_instances(p: Pipeline, primary: Process, backup: Process) -> None:
    from selfheal_shared.ingestion import ingestion_instances

    instances = [
        {"name": "primary", "url": primary.url, "priority": 0},
        {"name": "backup", "url": backup.url, "priority": 1},
    ]
    p.client("ssm").put_parameter(
        Name=ingestion_instances.parameter_name(GROUP),
        Type="String",
        Value=json.dumps({"instances": instances}),
    )


def _instances(primary: str | None, backup: str, holder: str) -> Stage:
    """Two real ingestion instances (`primary` None: its host is down), registered, with
    `holder` holding the group's lease."""

    def stage(p: Pipeline, stack: ExitStack) -> None:
        from selfheal_shared.ingestion import ingestion_lease

        procs = _processes(stack)
        first = procs.instance("primary", primary or "production")
        second = procs.instance("backup", backup)
        _register_instances(p, first, second)
        procs.attach(p)  # their hosts' SSM agent: Run Command switches them
        ingestion_lease.take(GROUP, holder)
        if primary is None:
            first.kill()

    return stage


SCENES = {
    "ingestion_failover.primary_down": Scene(_instances(None, "standby", "primary")),
    # The backup took over earlier; the primary's host came back in production (its .env).
    "ingestion_failover.primary_back": Scene(_instances("production", "production", "backup")),
    # Someone started the backup in production next to the lease holder.
    "instance_conflict": Scene(_instances("production", "production", "primary")),
}
