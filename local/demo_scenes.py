"""What `selfheal demo` puts around each sample so its remediation really happens.

A sample event alone reaches a world with nothing behind it: no edge answers a command,
no ingestion instance or mapper is registered, nobody acknowledges a flagged source. A
`Scene` is what a real deployment has at that moment, keyed by the sample's file name
(`<workflow>.<case>`, or `<workflow>` for every case): it starts real things (a mosquitto
with the sample's edge simulated on it; ingestion instances or a mapper as processes on
127.0.0.1), registers them as production does, and says how a person answers the gate.
Everything it starts is stopped by the `ExitStack` it is given.

One more scene is one more entry in `SCENES`. Outcomes are never staged: a scene only
sets up the world the sample implies, and the workflow's own checks decide.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from .broker import KEEPALIVE_SECONDS

if TYPE_CHECKING:
    from .broker import Broker
    from .edge_sim import EdgeSim
    from .ingestion_instances import Process, Processes
    from .runtime import Pipeline
    from .services.sim import ServiceSim

#: The samples' edge and site (events/samples/*: edge-cps-002 at site-campinas).
EDGE = "edge-cps-002"
#: The ingestion group and mapper the samples' alarms name.
GROUP = "aupus-mqtt"
MAPPER = "embed"

#: Sets the world up before the sample; returns what runs once the sample is routed.
Stage = Callable[["Pipeline", ExitStack], Callable[[], None] | None]


def _nothing(p: Pipeline, stack: ExitStack) -> None:
    return None


@dataclass(frozen=True)
class Scene:
    """`stage` starts and registers what the sample needs (cleanup on the stack) and may
    return `armed`: run with virtual time held, right before the sample is routed (the
    edge's next readings, which must start with the event). `scheduler`: the counted clock
    (edges on a broker take real time). `hold_until_gate`: keep virtual time still until
    the run parks at its gate (a gate's own timeout must not pass before the person
    answers, 12 virtual minutes later). `acknowledge`: what the person acknowledges with
    the answer."""

    stage: Stage = _nothing
    #: The stage starts the described services itself (else a replay that needs them
    #: starts them healthy).
    services: bool = False
    scheduler: bool = False
    hold_until_gate: bool = False
    acknowledge: tuple[str, ...] = ()


NONE = Scene()


def scene_for(sample: Path) -> Scene:
    """The scene of `<workflow>.<case>.json`: its own, else its workflow's, else none."""
    name = sample.name.removesuffix(".json")
    return SCENES.get(name) or SCENES.get(name.split(".", 1)[0]) or NONE


# -- edges on a real broker -------------------------------------------------------------


def _edge(p: Pipeline, stack: ExitStack, *, bridge_first: bool = True, **state: object) -> EdgeSim:
    """mosquitto, the IoT rules' bridge and the sample's edge on it, in `state` (EdgeSim
    attributes). With `bridge_first=False` the edge connects before the bridge subscribes:
    what it said before (its last will) is not news to the pipeline."""
    from .broker import mosquitto
    from .edge_sim import EdgeSim
    from .mqtt_bridge import Bridge

    broker = stack.enter_context(mosquitto())

    def bridge() -> None:
        b = Bridge(p, broker).start()
        stack.callback(b.stop)

    if bridge_first:
        bridge()
    sim = EdgeSim(EDGE, broker, clock=p.clock)
    for key, value in state.items():
        setattr(sim, key, value)
    stack.callback(sim.stop)
    sim.start()
    if not bridge_first:
        with _last_will_seen(broker):
            sim.kill()  # the controller hangs; its agent still answers
        bridge()
    if not p.clock.wait_quiet(60):
        raise TimeoutError(f"{EDGE}'s first messages were not handled in 60 s")
    return sim


@contextmanager
def _last_will_seen(broker: Broker) -> Iterator[None]:
    """Returns once the broker has sent the edge's last will (to a watcher that counts for
    nothing): a bridge subscribing later cannot receive it."""
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    subscribed, offline = threading.Event(), threading.Event()

    def on_message(client: mqtt.Client, userdata: object, msg: mqtt.MQTTMessage) -> None:
        if json.loads(msg.payload).get("status") == "offline":
            offline.set()

    watcher = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"demo-{EDGE}-watcher")
    watcher.on_message = on_message
    watcher.on_subscribe = lambda *args: subscribed.set()
    watcher.connect(broker.host, broker.port, keepalive=KEEPALIVE_SECONDS)
    watcher.subscribe(f"lifo4/{EDGE}/status", qos=1)
    watcher.loop_start()
    try:
        if not subscribed.wait(30):
            raise TimeoutError("the demo's watcher could not subscribe")
        yield
        if not offline.wait(30):
            raise TimeoutError(f"the broker never sent {EDGE}'s last will")
    finally:
        watcher.disconnect()
        watcher.loop_stop()


def _readings(p: Pipeline, sim: EdgeSim, temps: list[float], every_min: int = 5) -> None:
    """The edge's telemetry every `every_min` virtual minutes, one temperature each."""
    for n, temp in enumerate(temps, start=1):

        def report(t: float = temp) -> None:
            sim.temperature_c = t
            if sim.connected.is_set():
                sim.publish_telemetry()

        p.clock.call_later(n * every_min * 60, report)


def _over_temperature(p: Pipeline, stack: ExitStack) -> Callable[[], None]:
    """56 °C with power flowing (runbook 000 §5a); once stopped it cools: 47 °C at minute
    5, below 45 °C from minute 10, so the restart lock is released 30 min later."""
    sim = _edge(p, stack, power_kw=12.5, temperature_c=56.0)
    return lambda: _readings(p, sim, [47.0, 44.0] + [43.0] * 10)


def _cell_imbalance(p: Pipeline, stack: ExitStack) -> None:
    """Cells 250 mV apart in the edge's telemetry (the alarm's "cell delta 250 mV")."""
    _edge(p, stack, cells_mv=[3300, 3310, 3550, 3305])


def _battery_alarm(p: Pipeline, stack: ExitStack) -> Callable[[], None]:
    """SOC 4 %; the site recharges it and the edge clears SOC_CRITICAL at minute 20."""
    sim = _edge(p, stack)

    def recharge() -> None:
        sim.publish_telemetry(soc=22.0)
        sim.raise_alarm("SOC_CRITICAL", "cleared", reason="SOC 22 %")

    return lambda: p.clock.call_later(20 * 60, recharge)


def _estop(p: Pipeline, stack: ExitStack) -> None:
    """The edge with its agent up: the approved reset reaches it and it clears the E-Stop."""
    _edge(p, stack)


def _hung_controller(p: Pipeline, stack: ExitStack) -> None:
    """The controller's process hung (its last will went out); the agent answers probes
    and restarts it (runbook 000 §1)."""
    _edge(p, stack, bridge_first=False)


# -- processes on 127.0.0.1 -------------------------------------------------------------


def _processes(stack: ExitStack) -> Processes:
    from .ingestion_instances import Processes

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


def _mapper(p: Pipeline, stack: ExitStack) -> None:
    """The external mapper down for its first 3 probes, then healthy; registered with the
    engine's AppConfig flag profile (`fallbackMapper` off)."""
    from .mapper_service import mapper, register

    register(p, MAPPER, _processes(stack).add(MAPPER, mapper(fail_first=3)))


# -- services as real processes ------------------------------------------------------------


def _services(setup: Callable[[ServiceSim], None]) -> Scene:
    """The described services on 127.0.0.1, started by `setup` (which breaks one of them as
    the sample's alarm says), the SSM agent answering the restarts."""

    def stage(p: Pipeline, stack: ExitStack) -> None:
        from .services.sim import running

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


def _subscriptions_lost(sim: ServiceSim) -> None:
    sim.seed_points(hours_ago=1)
    sim.lose_topics(["aupus/inv-02", "aupus/inv-03", "aupus/meter-01"])
    sim.start_all()


SCENES: dict[str, Scene] = {
    "battery_alarm": Scene(_battery_alarm, scheduler=True),
    "cell_imbalance": Scene(_cell_imbalance, scheduler=True),
    "edge_alarm_intake.over_temperature_alarm": Scene(_over_temperature, scheduler=True),
    "over_temperature": Scene(_over_temperature, scheduler=True),
    "emergency_stop": Scene(_estop, scheduler=True, hold_until_gate=True),
    "edge_offline_ladder": Scene(_hung_controller, scheduler=True),
    # The validation alarm flags ons-geracao: resuming means acknowledging it (runbook 003).
    "freeze_ingestion": Scene(acknowledge=("ons-geracao",)),
    "ingestion_failover.primary_down": Scene(_instances(None, "standby", "primary")),
    # The backup took over earlier; the primary's host came back in production (its .env).
    "ingestion_failover.primary_back": Scene(_instances("production", "production", "backup")),
    # Someone started the backup in production next to the lease holder.
    "instance_conflict": Scene(_instances("production", "production", "primary")),
    "mapper_degraded": Scene(_mapper),
    "service_recovery.api_health_alarm": _services(_api_down),
    "service_recovery.inference_health_alarm": _services(_inference_hung),
    "service_recovery.worker_backlog_alarm": _services(_worker_stuck),
    "service_recovery.ingestion_stale_alarm": _services(_ingestion_stale),
    "partial_data.aupus_coverage_alarm": _services(_subscriptions_lost),
}
