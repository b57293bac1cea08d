"""The ingestion domain's scenes: Aupus's primary and backup as real managed hosts (each
pm2 running aupus-api against mosquitto and the shared PostgreSQL), the database's
administration host, the group registered as production registers it, one instance
holding the group's lease, and an equipment publishing readings in real time meanwhile."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from contextlib import ExitStack

from local.world_api import Pipeline, Scene, Stage, mosquitto

from .aupus import AupusDeployment, AupusHost

#: The ingestion group the samples' alarms name.
GROUP = "aupus-mqtt"


def _aupus(
    primary: str, backup: str, holder: str, fault: Callable[[AupusHost], None] | None = None
) -> Stage:
    """The primary (`aupus-vps`) and the backup (`aupus-backup`) in these modes, registered,
    `holder` holding the lease, the feed on; then `fault` done to the primary."""

    def stage(p: Pipeline, stack: ExitStack) -> None:
        from selfheal_shared.ingestion import ingestion_lease

        broker = stack.enter_context(mosquitto())
        aupus = AupusDeployment.create(p, broker)
        stack.callback(aupus.close)
        first = aupus.host("aupus-vps", primary)
        second = aupus.host("aupus-backup", backup)
        # The scene plays the sample's alarm event: the hosts' CloudWatch agents ship
        # nothing, so the P2002 lines of two instances in production do not raise the real
        # alarm too (a second incident and run beside the sample's).
        for h in (first, second):
            assert h.host is not None
            h.host.log_files.clear()
        aupus.register(GROUP, {"primary": first, "backup": second})
        ingestion_lease.take(GROUP, holder)
        stack.enter_context(aupus.feed())
        if fault is not None:
            fault(first)
        p.hosts.watchers.append(lambda host, script, inv: _writing_again(aupus, script, inv))

    return stage


#: What a switch that lets an instance write again runs: SetMode to production (its `.env`
#: line) or the fence lifted (the Fence document with action unfence).
_LETS_WRITE = ("/MQTT_MODE=production/", 'case "unfence" in')


def _writing_again(aupus: AupusDeployment, script: str, inv: object) -> None:
    """After a switch that lets an instance write, the agent answers once the equipment's
    next reading is saved: the demo's timelines then never depend on how fast a reading
    follows the switch (the workflow's Verify reads again after a wait if none had)."""
    if getattr(inv, "status", "") == "Success" and any(w in script for w in _LETS_WRITE):
        with contextlib.suppress(TimeoutError):  # then Verify waits and reads again
            aupus.next_row()


SCENES = {
    # The primary is cut off (its SSM agent offline) while its app keeps writing.
    "ingestion_failover.primary_down": Scene(
        _aupus("production", "development", "primary", AupusHost.unreachable)
    ),
    # The backup took over earlier (the primary fenced in the database); the primary's host
    # answers again, its .env in production.
    "ingestion_failover.primary_back": Scene(
        _aupus("production", "production", "backup", AupusHost.fence)
    ),
    # Someone started the backup in production next to the lease holder: P2002.
    "instance_conflict": Scene(_aupus("production", "production", "primary")),
}
