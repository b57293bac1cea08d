"""The battery domain's scenes: each sample's edge simulated on a real mosquitto (the edge
world's `sample_edge`), in the state its alarm describes, and what the site does next."""

from __future__ import annotations

import json
from collections.abc import Callable
from contextlib import ExitStack
from datetime import datetime
from pathlib import Path

from local.world_api import Pipeline, Scene
from local.worlds.edge import EDGE, keep_reporting, sample_edge

#: Reports at 30, 50, 70 ... s: never on a whole minute, when the workflows look (their Wait
#: states are whole minutes), so which report a look reads never depends on thread timing.
OFFSET = 10.0


def _over_temperature(p: Pipeline, stack: ExitStack) -> Callable[[], None]:
    """56 °C with power flowing (runbook 000 §5a); the edge reports every 20 s, as a live one
    does. Once stopped it cools: 47 °C from minute 5, 44 °C from minute 10, 43 °C from
    minute 15, so the restart lock is released 30 min after it fell below 45 °C."""
    sim = sample_edge(p, stack, power_kw=12.5, temperature_c=56.0)

    def cooling(t: float) -> None:
        minute = t / 60
        if minute >= 5:
            sim.temperature_c = 47.0 if minute < 10 else 44.0 if minute < 15 else 43.0

    return lambda: keep_reporting(p.clock, sim, seconds=70 * 60, start=OFFSET, before=cooling)


def _cell_imbalance(p: Pipeline, stack: ExitStack) -> Callable[[], None]:
    """Cells 250 mV apart in the edge's telemetry (the alarm's "cell delta 250 mV"), which
    it reports every 20 s, as a live edge does."""
    sim = sample_edge(p, stack, cells_mv=[3300, 3310, 3550, 3305])
    return lambda: keep_reporting(p.clock, sim, seconds=20 * 60, start=OFFSET)


def _battery_alarm(p: Pipeline, stack: ExitStack) -> Callable[[], None]:
    """SOC 4 %; the site recharges it and the edge clears SOC_CRITICAL at minute 20."""
    sim = sample_edge(p, stack)

    def recharge() -> None:
        sim.publish_telemetry(soc=22.0)
        sim.raise_alarm("SOC_CRITICAL", "cleared", reason="SOC 22 %")

    return lambda: p.clock.call_later(20 * 60, recharge)


#: The E-Stop sample: its edge's own event (the cause) is part of the world it implies.
_ESTOP_SAMPLE = Path(__file__).parents[3] / "events" / "samples" / "emergency_stop.estop_alarm.json"


def _estop(p: Pipeline, stack: ExitStack) -> Callable[[], None]:
    """The edge with its agent up: the approved reset reaches it and it clears the E-Stop.
    Its E-Stop event (runbook 000 §5c "Ver motivo do E-Stop": the cause) is in the edge
    registry as the ingress records the edge's alarm message, raised as long before the
    sample is routed as the sample says."""
    sample_edge(p, stack)
    sample = json.loads(_ESTOP_SAMPLE.read_text())
    detail = sample["detail"]
    ago = datetime.fromisoformat(sample["time"]) - datetime.fromisoformat(detail["raisedAt"])

    def recorded() -> None:
        from selfheal_shared.edge import edge_registry, edges

        body = {
            "alarm": detail["alarm"],
            "state": "active",
            "ts": (p.clock.now() - ago).timestamp(),
            "reason": detail["reason"],
        }
        edge_registry.record_signal(edges.Signal(edgeId=EDGE, kind="alarm", payload=body))

    return recorded


SCENES = {
    "battery_alarm": Scene(_battery_alarm, scheduler=True),
    "cell_imbalance": Scene(_cell_imbalance, scheduler=True),
    "edge_alarm_intake.over_temperature_alarm": Scene(_over_temperature, scheduler=True),
    "over_temperature": Scene(_over_temperature, scheduler=True),
    "emergency_stop": Scene(_estop, scheduler=True, hold_until_gate=True),
}
