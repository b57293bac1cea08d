"""What the HTTPS acknowledgement path accepts (`core/page_ack.py`): PagerDuty V3's
signature scheme, several signatures during a rotation, and refusals naming the field."""

from __future__ import annotations

import json

import pytest
from selfheal_shared.core import page_ack

SECRET = "s3cret-signing-key"


def body(**event: object) -> bytes:
    return json.dumps({"event": event}).encode()


def test_a_signature_from_either_secret_of_a_rotation_is_accepted() -> None:
    raw = body(event_type="incident.acknowledged")
    old, new = page_ack.sign(raw, "old-key"), page_ack.sign(raw, SECRET)
    assert page_ack.verify(raw, {"x-pagerduty-signature": f"{old}, {new}"}, SECRET) == (
        "x-pagerduty-signature"
    )
    with pytest.raises(page_ack.Refused, match="x-pagerduty-signature: no signature matches"):
        page_ack.verify(raw, {"x-pagerduty-signature": old}, SECRET)
    with pytest.raises(page_ack.Refused, match="signature: none of"):
        page_ack.verify(raw, {}, SECRET)
    with pytest.raises(page_ack.Refused, match="no signing secret"):
        page_ack.verify(raw, {"x-pagerduty-signature": new}, "")


def test_a_pagerduty_acknowledgement_names_the_incident_key_and_the_agent() -> None:
    raw = body(
        event_type="incident.acknowledged",
        agent={"summary": "Ana"},
        data={"incident_key": "edge_offline_ladder-edge-1-abc"},
    )
    ack = page_ack.parse(raw, "x-pagerduty-signature")
    assert ack == page_ack.Ack("edge_offline_ladder-edge-1-abc", "Ana", "pagerduty")
    assert page_ack.parse(body(event_type="incident.triggered"), "x-pagerduty-signature") is None
    missing = body(event_type="incident.acknowledged", agent={"summary": "Ana"}, data={})
    with pytest.raises(page_ack.Refused, match=r"event\.data\.incident_key: required"):
        page_ack.parse(missing, "x-pagerduty-signature")


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        (b"not json", "body: not JSON"),
        (b"[1]", "body: a JSON object"),
        (json.dumps({"incidentId": "i-1"}).encode(), "by: required"),
        (json.dumps({"incidentId": "x" * 300, "by": "ana"}).encode(), "incidentId: longer"),
        (b"{" + b" " * page_ack.MAX_BODY_BYTES + b"}", "body: larger"),
    ],
)
def test_a_malformed_selfheal_acknowledgement_is_refused_naming_the_field(
    raw: bytes, field: str
) -> None:
    with pytest.raises(page_ack.Refused, match=field):
        page_ack.parse(raw, "x-selfheal-signature")


def test_a_pagerduty_resolve_names_the_incident_the_agent_and_the_note_if_any() -> None:
    """`incident.resolved` is a resolve by its agent; a `resolve_reason` given as text (or
    an object's summary) is the person's note; PagerDuty's merge reason is no cause."""
    key = "emergency_stop-edge-cps-001-abc"

    def resolved(**data: object) -> page_ack.Ack | None:
        raw = body(
            event_type="incident.resolved",
            agent={"summary": "Ana", "type": "user_reference"},
            data={"incident_key": key, **data},
        )
        return page_ack.parse(raw, "x-pagerduty-signature")

    assert resolved() == page_ack.Ack(key, "Ana", "pagerduty", action="resolve", note=None)
    noted = resolved(resolve_reason="  breaker tripped by the crane  ")
    assert noted is not None and noted.note == "breaker tripped by the crane"
    summary = resolved(resolve_reason={"type": "note", "summary": "loose BMS cable"})
    assert summary is not None and summary.note == "loose BMS cable"
    # A merge into another incident, or an auto-resolve (a service's agent), is no person
    # saying the incident is over: answered 202, the chain stays open.
    with pytest.raises(page_ack.Refused, match=r"resolve_reason: a merge") as merged:
        resolved(resolve_reason={"type": "merge_resolve_reason", "summary": "merged"})
    assert merged.value.status == 202
    auto = body(
        event_type="incident.resolved",
        agent={"summary": "Battery service", "type": "service_reference"},
        data={"incident_key": key},
    )
    with pytest.raises(page_ack.Refused, match=r"event\.agent\.type: 'service_reference'") as e:
        page_ack.parse(auto, "x-pagerduty-signature")
    assert e.value.status == 202
    ack = page_ack.parse(
        body(event_type="incident.acknowledged", agent={"summary": "Ana"},
             data={"incident_key": key, "resolve_reason": "not a resolve"}),
        "x-pagerduty-signature",
    )  # fmt: skip
    assert ack is not None and (ack.action, ack.note) == ("acknowledge", None)
    nobody = body(
        event_type="incident.resolved",
        agent={"type": "user_reference"},
        data={"incident_key": key},
    )
    with pytest.raises(page_ack.Refused, match=r"event\.agent\.summary: required"):
        page_ack.parse(nobody, "x-pagerduty-signature")
