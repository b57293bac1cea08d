"""Pure parsing of edge messages (issue 9 item 5): the rules the ingress applies before
anything is stored or routed."""

from __future__ import annotations

import json
from typing import Any

import pytest
from selfheal_shared.core.errors import InputInvalid
from selfheal_shared.edge import edges


def parse(topic: str, payload: Any) -> edges.Signal:
    return edges.parse_signal({"topic": topic, "payload": payload})


@pytest.mark.parametrize(
    ("text", "depth"),
    [
        ("{}", 1),
        ('{"a": [1, {"b": 2}]}', 3),
        ('{"a": "[[[[[[[[[[[[[[[[[[[[["}', 1),
        ('{"a": "\\"[[[["}', 1),
        ("[" * 40 + "]" * 40, 40),
    ],
)
def test_nesting_depth_skips_strings(text: str, depth: int) -> None:
    assert edges.nesting_depth(text) == depth


@pytest.mark.parametrize("payload", ["[" * 1500 + "]" * 1500, json.loads("[" * 20 + "]" * 20)])
def test_deep_nesting_is_refused_as_text_or_as_a_value(payload: Any) -> None:
    with pytest.raises(InputInvalid, match="nested deeper than 16 levels"):
        parse("lifo4/edge-1/status", payload)


def test_a_bad_optional_field_is_dropped_and_named_the_status_kept() -> None:
    signal = parse(
        "lifo4/edge-1/status",
        {"status": "offline", "bufferedSamples": float("inf"), "partition": "weird"},
    )
    assert signal.payload["status"] == "offline"
    assert signal.payload["bufferedSamples"] == 0 and signal.payload["partition"] is None
    assert sorted(p.split(":")[0] for p in signal.invalid) == ["bufferedSamples", "partition"]


def test_a_bad_status_is_still_a_rejection() -> None:
    with pytest.raises(InputInvalid, match="status"):
        parse("lifo4/edge-1/status", {"status": "sleepy", "bufferedSamples": "x"})


@pytest.mark.parametrize("value", ["NaN", "Infinity", "-Infinity"])
def test_non_finite_telemetry_is_refused_naming_the_field(value: str) -> None:
    with pytest.raises(InputInvalid, match="soc: Input should be a finite number"):
        parse("lifo4/edge-1/telemetry", f'{{"ts": 1700000000, "soc": {value}, "powerKw": 1}}')


@pytest.mark.parametrize(
    ("client", "thing", "role", "kind"),
    [
        ("edge-1", "edge-1", "controller", "presence"),
        ("edge-1-agent", "edge-1", "agent", "agent_presence"),
        ("edge-1-claim", "edge-1", "claim", "agent_presence"),
    ],
)
def test_presence_client_ids_name_the_edge_and_its_process(
    client: str, thing: str, role: str, kind: str
) -> None:
    signal = parse(
        f"$aws/events/presence/connected/{client}",
        {"clientId": client, "timestamp": 1, "eventType": "connected", "sessionIdentifier": "s"},
    )
    assert (signal.edgeId, signal.payload["role"], signal.kind) == (thing, role, kind)


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ({"clientId": "edge-1", "eventType": "connected"}, "timestamp: Field required"),
        ({"clientId": "edge-2", "timestamp": 1}, "disagree with the topic"),
        ({"clientId": "edge-1", "timestamp": float("nan")}, "timestamp"),
    ],
)
def test_presence_events_are_validated(body: dict[str, Any], error: str) -> None:
    with pytest.raises(InputInvalid, match=error):
        parse("$aws/events/presence/connected/edge-1", body)


def test_a_csr_is_only_accepted_on_the_claim_channel_topic() -> None:
    pem = (
        "-----BEGIN CERTIFICATE REQUEST-----\n" + "A" * 200 + "\n-----END CERTIFICATE REQUEST-----"
    )
    assert parse("lifo4/provision/edge-1-claim/csr", {"csr": pem}).edgeId == "edge-1"
    with pytest.raises(InputInvalid, match="topic"):
        parse("lifo4/provision/edge-1/csr", {"csr": pem})
    with pytest.raises(InputInvalid, match="csr"):
        parse(
            "lifo4/provision/edge-1-claim/csr", {"csr": "-----BEGIN PRIVATE KEY-----" + "A" * 200}
        )
