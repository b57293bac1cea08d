"""`selfheal serve --mqtt`: an edge message published on the served broker reaches the
workflows through the IoT bridge, and the operator sees the result with the real AWS CLI
and the `selfheal` commands pointed at the server."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime

import paho.mqtt.client as mqtt
import pytest

from tests.serve.served import Served, serve

EDGE = "edge-rec-002"  # registered in the demo world


@pytest.fixture(scope="module")
def served() -> Iterator[Served]:
    with serve("--mqtt") as running:
        yield running


def publish(broker: str, messages: list[tuple[str, str]]) -> None:
    """What an edge's controller does: QoS 1 publishes, each acknowledged by the broker."""
    host, port = broker.split(":")
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="test-edge-controller")
    client.connect(host, int(port))
    client.loop_start()
    try:
        for topic, payload in messages:
            client.publish(topic, payload, qos=1).wait_for_publish(30)
    finally:
        client.loop_stop()
        client.disconnect()


def test_an_estop_published_on_the_broker_parks_at_the_human_gate(served: Served) -> None:
    """Runbook 000 §5c: "NUNCA resetar E-Stop automaticamente" — over the served broker, the
    E-Stop starts its workflow, which waits at the gate listed by `selfheal gates`; a hostile
    payload on the same topic is rejected naming the field and starts nothing."""
    assert served.broker, "serve --mqtt printed no broker"
    now = datetime.fromisoformat(served.control("clock")["now"]).timestamp()
    estop = {"alarm": "EMERGENCY_STOP", "state": "active", "ts": now, "reason": "button"}
    hostile = {"alarm": "EMERGENCY_STOP", "state": "active", "ts": "soon"}
    publish(
        served.broker,
        [
            (f"lifo4/{EDGE}/alarms", json.dumps(hostile)),
            (f"lifo4/{EDGE}/alarms", json.dumps(estop)),
        ],
    )

    handled = served.control("mqtt/wait?handled=2&timeout=120")
    assert handled["delivered"] == 1
    [rejected] = handled["rejected"]
    assert rejected["topic"] == f"lifo4/{EDGE}/alarms" and "ts" in rejected["error"]

    runs = served.aws(
        "stepfunctions", "list-executions", "--state-machine-arn", served.arns["emergency_stop"]
    )["executions"]
    [run] = runs
    assert run["status"] == "RUNNING"
    detail = served.aws(
        "stepfunctions", "describe-execution", "--execution-arn", run["executionArn"]
    )
    assert EDGE in detail["input"]
    summary = served.wait(run["executionArn"], parked=True)
    assert summary["status"] == "RUNNING" and summary["awaiting"], summary

    gates = served.selfheal("gates")
    assert gates.returncode == 0, gates.stderr
    assert EDGE in gates.stdout


def test_the_mqtt_wait_is_refused_on_a_server_without_mqtt() -> None:
    """Without `--mqtt` there is no bridge to wait on: a 404 saying so, not a hang."""
    import urllib.error

    with serve() as plain:
        with pytest.raises(urllib.error.HTTPError) as refused:
            plain.control("mqtt/wait?handled=1")
        assert refused.value.code == 404
        assert "--mqtt" in json.loads(refused.value.read())["error"]


def test_aws_iot_data_publish_reaches_the_topic_rules(served: Served) -> None:
    """What an operator would type to replay an edge's message: `aws iot-data publish`
    lands on the broker and the IoT rule path starts the workflow (here the over-temperature
    response, which takes its restart lock first)."""
    edge = "edge-rec-003"
    now = datetime.fromisoformat(served.control("clock")["now"]).timestamp()
    before = served.control("mqtt/wait?handled=0")
    taken = before["delivered"] + len(before["rejected"]) + len(before["retained"])
    alarm = {"alarm": "OVER_TEMPERATURE", "state": "active", "ts": now, "reason": "52 C"}
    served.aws(
        "iot-data", "publish", "--topic", f"lifo4/{edge}/alarms", "--qos", "1",
        "--payload", json.dumps(alarm),
    )  # fmt: skip
    after = served.control(f"mqtt/wait?handled={taken + 1}&timeout=120")
    assert after["delivered"] == before["delivered"] + 1
    runs = served.aws(
        "stepfunctions", "list-executions", "--state-machine-arn", served.arns["over_temperature"]
    )["executions"]
    assert [edge in served.aws("stepfunctions", "describe-execution", "--execution-arn",
                               r["executionArn"])["input"] for r in runs] == [True]  # fmt: skip
