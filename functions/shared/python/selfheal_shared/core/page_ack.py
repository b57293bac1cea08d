"""Acknowledging a page over HTTPS: what the `page_ack` function URL accepts.

Two senders, one shared signing secret (Secrets Manager, `SECRET_NAME`), and the same
signature scheme, PagerDuty's V3 webhooks' (`X-PagerDuty-Signature: v1=<hex HMAC-SHA256 of
the raw body>`, several comma-separated while a secret rotates):

- a PagerDuty V3 webhook subscription sending `incident.acknowledged`: the incident's
  `incident_key` is the page's deduplication key (selfheal's incident id, sent as the
  Events API's `dedup_key`), the acknowledger is the event's `agent.summary`;
- the same subscription sending `incident.resolved`: a person resolved it in PagerDuty, so
  the chain is resolved (`core/page_resolve.py`) by the agent, with the incident's
  `resolve_reason` as the cause when it is a note (PagerDuty's own merge reason is none);
  else the cause is left for people;
- anything else that can sign (a chat button's backend, a script): `{"incidentId", "by"}`
  with the header `X-Selfheal-Signature` in the same scheme.

An unsigned or badly signed request changes nothing (401); a malformed one is refused
naming the field (400); another PagerDuty event type is accepted and ignored (202), so a
subscription to more events than acknowledgements does not retry forever.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass
from typing import Any

#: The secret the stacks create and the function reads (`SecretString`: the signing key).
SECRET_NAME = "selfheal/page-ack-signing"
SIGNATURE_HEADERS = ("x-pagerduty-signature", "x-selfheal-signature")
ACKNOWLEDGED = "incident.acknowledged"
RESOLVED = "incident.resolved"
MAX_BODY_BYTES = 64 * 1024


class Refused(ValueError):
    """Why a request acknowledges nothing, and the HTTP status that says it."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Ack:
    incident_id: str
    by: str
    #: `pagerduty` or `selfheal`: who sent it, for the record.
    source: str
    #: `acknowledge`, or `resolve` (a PagerDuty `incident.resolved`).
    action: str = "acknowledge"
    #: The resolution note the person gave, if any (the root cause as they stated it).
    note: str | None = None


def sign(body: bytes, secret: str) -> str:
    """The header value a sender puts on `body` (tests and the operator's own scripts)."""
    return "v1=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify(body: bytes, headers: dict[str, str], secret: str) -> str:
    """The header that carried a valid signature; Refused(401) otherwise."""
    if not secret:
        raise Refused(401, "signature: no signing secret is configured; nothing is accepted")
    expected = sign(body, secret)
    for name in SIGNATURE_HEADERS:
        given = [s.strip() for s in headers.get(name, "").split(",") if s.strip()]
        if any(hmac.compare_digest(s, expected) for s in given):
            return name
    named = [n for n in SIGNATURE_HEADERS if n in headers]
    raise Refused(
        401,
        f"{named[0]}: no signature matches the body" if named else
        f"signature: none of {', '.join(SIGNATURE_HEADERS)} is present",
    )  # fmt: skip


def _text(value: Any, field: str, limit: int = 256) -> str:
    if not isinstance(value, str) or not value.strip():
        raise Refused(400, f"{field}: required, a non-empty string")
    if len(value) > limit:
        raise Refused(400, f"{field}: longer than {limit} characters")
    return value.strip()


def _note(incident: dict[str, Any]) -> str | None:
    """A resolution note in the incident: `resolve_reason` given as text, or an object's
    `summary` unless it is PagerDuty's merge reason (a merge says no cause)."""
    reason = incident.get("resolve_reason")
    if isinstance(reason, dict) and reason.get("type") != "merge_resolve_reason":
        reason = reason.get("summary")
    if isinstance(reason, str) and reason.strip():
        return reason.strip()[:1000]
    return None


#: Who may end an incident from PagerDuty: a person (a service's auto-resolve or a merge
#: says nothing about the battery or service behind the page).
PERSON = "user_reference"
MERGE = "merge_resolve_reason"


def _a_persons_resolve(incident: dict[str, Any], agent: dict[str, Any]) -> None:
    """Refused (202, nothing changes) unless a person resolved it and no merge did: an
    auto-resolve timeout or a merge into another incident would stop the ladder of a P1
    that may still be active and tell everyone paged it was resolved."""
    reason = incident.get("resolve_reason")
    if isinstance(reason, dict) and reason.get("type") == MERGE:
        raise Refused(202, "event.data.resolve_reason: a merge, not a resolve; the chain stays")
    if agent.get("type") != PERSON:
        raise Refused(
            202,
            f"event.agent.type: {agent.get('type')!r}, not a person ({PERSON}): an "
            "auto-resolve ends no incident here; the chain stays open",
        )


def parse(body: bytes, signed_by: str) -> Ack | None:
    """The acknowledgement (or PagerDuty resolve) in a verified body; None for a PagerDuty
    event that is neither."""
    if len(body) > MAX_BODY_BYTES:
        raise Refused(413, f"body: larger than {MAX_BODY_BYTES} bytes")
    try:
        data = json.loads(body)
    except ValueError as e:
        raise Refused(400, f"body: not JSON ({e})") from None
    if not isinstance(data, dict):
        raise Refused(400, "body: a JSON object is required")
    if signed_by == "x-pagerduty-signature":
        event = data.get("event")
        if not isinstance(event, dict):
            raise Refused(400, "event: required, the V3 webhook's event object")
        if event.get("event_type") not in (ACKNOWLEDGED, RESOLVED):
            return None
        incident = event.get("data")
        if not isinstance(incident, dict):
            raise Refused(400, "event.data: required, the incident")
        agent = event.get("agent")
        if not isinstance(agent, dict):
            agent = {}
        if event["event_type"] == RESOLVED:
            _a_persons_resolve(incident, agent)
        return Ack(
            incident_id=_text(incident.get("incident_key"), "event.data.incident_key"),
            by=_text(agent.get("summary"), "event.agent.summary"),
            source="pagerduty",
            action="resolve" if event["event_type"] == RESOLVED else "acknowledge",
            note=_note(incident) if event["event_type"] == RESOLVED else None,
        )
    return Ack(
        incident_id=_text(data.get("incidentId"), "incidentId"),
        by=_text(data.get("by"), "by"),
        source="selfheal",
    )
