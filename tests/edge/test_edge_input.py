"""What reaches the edge ladder from MQTT and IoT Core lifecycle events (runbook 000 §1,
issue 9 item 5): only fresh, well-formed signals about an edge's controller open an
incident; bad input is kept for inspection and never stops the next message."""

from __future__ import annotations

import json
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from local.broker import Broker
from local.worlds import WorldSpec
from tests.edge.conftest import EdgeWorld

E1, E2 = "edge-cps-001", "edge-cps-002"


def presence(w: EdgeWorld, client_id: str, kind: str, *, at_ms: int, session: str) -> Any:
    """An IoT Core lifecycle event, as the presence topic rule hands it to the ingress."""
    ingress = w.pipeline.lambdas.handler_for("edge_ingress")
    body = {
        "clientId": client_id,
        "timestamp": at_ms,
        "eventType": kind,
        "sessionIdentifier": session,
        "principalIdentifier": "0123456789abcdef",
    }
    if kind == "disconnected":
        body |= {"clientInitiatedDisconnect": False, "disconnectReason": "CONNECTION_LOST"}
    return ingress({"topic": f"$aws/events/presence/{kind}/{client_id}", "payload": body}, None)


def now_ms(w: EdgeWorld) -> int:
    return int(w.pipeline.clock.now().timestamp() * 1000)


def registry(pk: str) -> dict[str, Any] | None:
    from selfheal_shared.edge import edge_registry

    return edge_registry.get(pk)


@pytest.mark.procedure("E1", "trigger: IoT Core presence disconnected (ordered by session)")
def test_a_disconnect_older_than_the_current_session_opens_nothing(edge_world: EdgeWorld) -> None:
    """Runbook 000 §1 "Sintomas: Sistema aparece como 'Offline'": only the current session's
    disconnect means offline. IoT Core does not order lifecycle events; the previous
    session's disconnect may arrive after the new session's connect."""
    w = edge_world
    w.start_edges([E1])
    t = now_ms(w)
    presence(w, E1, "connected", at_ms=t, session="session-2")
    # Arrives late: the previous session's disconnect, stamped before the new connect ...
    assert presence(w, E1, "disconnected", at_ms=t - 4000, session="session-1")["events"] == []
    # ... and the old session dropped for the takeover, stamped after it.
    assert presence(w, E1, "disconnected", at_ms=t + 5, session="session-1")["events"] == []
    w.settle()
    assert w.ladders(finished=0) == [], "nothing opened"
    ignored = [r for r in w.pipeline.audit_records() if r["action"] == "presence_out_of_order"]
    assert len(ignored) == 2, "kept for inspection with the reason"
    assert "older than the last one seen" in ignored[0]["why"]
    assert "not the current one (session-2)" in ignored[1]["why"]

    # The current session's disconnect is an outage: one ladder.
    [event] = presence(w, E1, "disconnected", at_ms=t + 9000, session="session-2")["events"]
    assert event["state"] == "offline"
    [run] = w.ladders(finished=1)
    assert "Restart" in run["states"]


def test_agent_client_ids_are_the_agent_not_a_new_edge(edge_world: EdgeWorld) -> None:
    """`<thing>-agent` is the edge's management agent (the policy lets it connect with the
    thing's certificate); its lifecycle is not an edge going on- or offline."""
    w = edge_world
    w.start_edges([E1])
    t = now_ms(w)
    assert presence(w, f"{E1}-agent", "connected", at_ms=t, session="a-1")["events"] == []
    assert presence(w, f"{E1}-agent", "disconnected", at_ms=t + 1, session="a-1")["events"] == []
    w.settle()

    assert registry(f"edge#{E1}-agent") is None, "no new edge"
    assert (registry(f"edge#{E1}") or {}).get("agent") == "disconnected"
    assert (registry(f"edge#{E1}") or {}).get("state") == "online", "the controller is fine"
    assert w.ladders(finished=0) == []


def _publish_retained(broker: Broker, topic: str, payload: str) -> None:
    c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="someone-else")
    c.connect(broker.host, broker.port)
    c.loop_start()
    c.publish(topic, payload, qos=1, retain=True).wait_for_publish(30)
    c.disconnect()
    c.loop_stop()


def test_a_retained_offline_is_not_a_fresh_signal(
    broker: Broker, make_edge_world: Any, edge_world_spec: WorldSpec
) -> None:
    """A retained `offline` left on the broker is replayed to every new subscription; IoT
    Core rules fire on publishes, not on those replays, so it opens nothing."""
    _publish_retained(broker, f"lifo4/{E1}/status", json.dumps({"status": "offline"}))
    w = make_edge_world(edge_world_spec)  # the bridge subscribes: the broker replays it
    w.start_edges([E2])  # later messages on the same connection: the replay came first
    w.settle()

    assert f"lifo4/{E1}/status" in w.bridge.retained
    assert w.ladders(finished=0) == []
    assert registry(f"edge#{E1}") is None


def test_nested_brackets_do_not_kill_the_bridge_and_a_later_message_gets_through(
    edge_world: EdgeWorld,
) -> None:
    """3 KB of nested brackets once raised RecursionError in the bridge's worker and every
    later message was lost. Now it is rejected (kept, with the reason) and the edge's next
    message — its last will — still opens the ladder."""
    w = edge_world
    [sim] = w.start_edges([E1])
    w.publish(f"lifo4/{E1}/status", "[" * 1500 + "]" * 1500)
    w.publish(f"lifo4/{E1}/telemetry", '{"a":' * 700 + "1" + "}" * 700)
    w.settle()
    assert [e for _, e in w.bridge.rejected if "nested deeper" in e] and len(w.bridge.rejected) == 2
    kept = [r for r in w.pipeline.audit_records() if r["action"] == "ingress_rejected"]
    assert len(kept) == 2 and all("nested deeper than 16 levels" in r["why"] for r in kept)

    sim.kill()
    [run] = w.ladders(finished=1)
    assert run["states"][-1] == "Closed", "the bridge is alive"


@pytest.mark.procedure("E1", "trigger: last will / status offline")
def test_offline_with_one_bad_optional_field_still_counts_as_offline(
    edge_world: EdgeWorld,
) -> None:
    """Runbook 000 §1: an edge saying it is offline is offline; a malformed optional field
    (here `bufferedSamples`) is dropped and reported, not a reason to lose the outage."""
    w = edge_world
    w.start_edges([E1])
    w.publish(f"lifo4/{E1}/status", '{"status": "offline", "bufferedSamples": "many"}')
    [run] = w.ladders(finished=1)

    assert "Restart" in run["states"] and run["states"][-1] == "Closed"
    [partial] = [r for r in w.pipeline.audit_records() if r["action"] == "ingress_partial"]
    assert "bufferedSamples" in partial["why"], "the bad field is reported"
    assert w.bridge.rejected == []


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ('{"ts": 1700000000, "soc": NaN, "powerKw": 1}', "soc"),
        ('{"ts": Infinity, "soc": 50, "powerKw": 1}', "ts"),
        ('{"ts": 1700000000, "soc": 50, "powerKw": -Infinity}', "powerKw"),
    ],
    ids=["nan-soc", "inf-ts", "minus-inf-power"],
)
def test_non_finite_numbers_are_rejected_naming_the_field(
    edge_world: EdgeWorld, payload: str, field: str
) -> None:
    w = edge_world
    w.start_edges([E1])
    w.publish(f"lifo4/{E1}/telemetry", payload)
    w.settle()

    [(_, error)] = w.bridge.rejected
    assert f"{field}: Input should be a finite number" in error
    [kept] = [r for r in w.pipeline.audit_records() if r["action"] == "ingress_rejected"]
    assert field in kept["why"] and ("NaN" in kept["details"] or "Infinity" in kept["details"])
