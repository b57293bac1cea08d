"""Pure logic for edge controllers over MQTT (runbook 000 §1, §6; catalog E1, E8, E9).

Topics: `lifo4/{edgeId}/telemetry`, `lifo4/{edgeId}/status` (last will: offline),
`lifo4/{edgeId}/commands/<command>` (to the edge), `lifo4/{edgeId}/commands/ack`
(from the edge). No I/O here.
"""

from __future__ import annotations

import hashlib
import json
import re
from datetime import datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .basemodel import Model
from .errors import InputInvalid

AUTOMATION = "edge_offline_ladder"
BUS = "selfheal-edge"
SOURCE = "selfheal.edge"
CONNECTIVITY = "Edge Connectivity Changed"
STALE = "Edge Telemetry Stale"
#: IoT Core accepts 128 KB; nothing an edge legitimately sends is near that.
MAX_PAYLOAD_BYTES = 16 * 1024
EDGE_ID = r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}"
TOPIC = re.compile(rf"^lifo4/(?P<edge>{EDGE_ID})/(?P<kind>telemetry|status|commands/ack)$")
PRESENCE = re.compile(r"^\$aws/events/presence/(?P<kind>connected|disconnected)/(?P<edge>[^/]+)$")
#: The provisioning (claim) channel: a connection authenticated by the fleet's claim
#: certificate, client id `<edgeId>-claim`, so it works when the edge's own certificate has
#: expired. The edge sends a CSR (its private key never leaves it); the cloud answers with
#: the certificate on `.../certificate`.
PROVISION = re.compile(rf"^lifo4/provision/(?P<edge>{EDGE_ID})-claim/csr$")
#: Client ids of an edge's other processes: `<thing>-agent` (the management agent) and
#: `<thing>-claim` (the provisioning client). Their presence is not the edge's.
ROLE_SUFFIXES = ("-agent", "-claim")
#: Deeper JSON than this is not an edge message (and would exhaust a recursive parser).
MAX_DEPTH = 16
STALE_AFTER = timedelta(seconds=30)
COMMANDS = ("probe", "restart", "renew", "ota-rollback")

#: Minutes offline at which each level is paged, by severity (runbook 000 §6, 003 B5).
PAGE_MINUTES: dict[str, dict[str, int]] = {
    "P1": {"l1": 0, "l2": 15, "l3": 30},
    "P2": {"l1": 10, "l2": 30, "l3": 60},
    "P3": {"l1": 60, "l2": 240},
    "P4": {},
}


class StatusPayload(Model):
    """`status` is what counts; a bad optional field is dropped and reported, never a
    reason to lose an `offline` (see `parse_status`)."""

    model_config = ConfigDict(extra="ignore", allow_inf_nan=False)

    status: Literal["online", "offline", "autonomous"]
    reason: str = Field(default="", max_length=200)
    certificate: Literal["valid", "expired"] | None = None
    partition: Literal["ok", "bad"] | None = None
    #: Samples kept locally while offline and synced on reconnect.
    bufferedSamples: int = Field(default=0, ge=0, le=10_000_000)


class PresencePayload(Model):
    """An IoT Core lifecycle event (`$aws/events/presence/...`). `timestamp` (ms) and
    `sessionIdentifier` order events that arrive out of order."""

    model_config = ConfigDict(extra="ignore", allow_inf_nan=False)

    clientId: str = Field(min_length=1, max_length=128)
    timestamp: int = Field(ge=0)
    eventType: Literal["connected", "disconnected"]
    sessionIdentifier: str = Field(default="", max_length=128)
    disconnectReason: str = Field(default="", max_length=64)


class CsrPayload(Model):
    model_config = ConfigDict(extra="ignore")

    csr: str = Field(min_length=100, max_length=8192, pattern=r"^-----BEGIN CERTIFICATE REQUEST")


class TelemetryPayload(Model):
    model_config = ConfigDict(extra="ignore", allow_inf_nan=False)

    ts: float = Field(gt=0)
    soc: float = Field(ge=0, le=100)
    powerKw: float = Field(ge=-100_000, le=100_000)


class AckPayload(Model):
    model_config = ConfigDict(extra="ignore", allow_inf_nan=False)

    commandId: str = Field(pattern=r"^[A-Za-z0-9_.:-]{1,128}$")
    command: Literal["probe", "restart", "renew", "ota-rollback"]
    result: Literal["ok", "error"]
    detail: Literal["", "certificate_expired", "partition_bad", "busy"] = ""


class EdgeIncident(Model):
    """The incident every ladder step receives (as `edge_open` made it)."""

    model_config = ConfigDict(extra="ignore")

    incidentId: str = Field(min_length=1)
    executionId: str = Field(min_length=1)
    edgeId: str = Field(pattern=f"^{EDGE_ID}$")
    siteId: str = Field(min_length=1)
    offlineSince: str = Field(min_length=1)
    severity: str = "P2"


def silence_scopes(incident: EdgeIncident) -> tuple[str, ...]:
    """The wider scopes whose silences also cover an edge (runbook 000 §6)."""
    return (f"site:{incident.siteId}", "fleet")


class Signal(Model):
    """One normalized message from or about an edge."""

    edgeId: str
    kind: Literal["telemetry", "status", "ack", "presence", "agent_presence", "csr"]
    payload: dict[str, Any]
    #: Optional fields that were invalid and dropped: `field: error` (reported, kept).
    invalid: list[str] = Field(default_factory=list)


def nesting_depth(text: str) -> int:
    """How deep the brackets of a JSON text go, without parsing it (strings skipped), so
    a hostile nesting is refused before a recursive parser sees it."""
    depth = deepest = 0
    in_string = escaped = False
    for ch in text:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif ch in "]}":
            depth -= 1
    return deepest


def _value_depth(value: Any) -> int:
    """The nesting depth of an already-decoded value, iteratively (no recursion)."""
    deepest, todo = 0, [(value, 1)]
    while todo:
        item, depth = todo.pop()
        if isinstance(item, dict | list):
            deepest = max(deepest, depth)
            if depth > MAX_DEPTH:
                break
            todo += [(v, depth + 1) for v in (item.values() if isinstance(item, dict) else item)]
    return deepest


def parse_status(raw: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """The status, with every optional field that is invalid dropped and named: an edge
    saying `offline` with a malformed `bufferedSamples` is still offline."""
    try:
        return StatusPayload.model_validate(raw).model_dump(), []
    except ValidationError as exc:
        bad = {str(e["loc"][0]) for e in exc.errors(include_url=False) if e["loc"]}
        if "status" in bad or not bad:
            raise InputInvalid.from_validation("status payload", exc) from None
        problems = [
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}"
            for e in exc.errors(include_url=False)
        ]
    kept = {k: v for k, v in raw.items() if k not in bad}
    return StatusPayload.model_validate(kept).model_dump(), problems


def role_of(client_id: str) -> tuple[str, str]:
    """(thing name, role) for a client id: `edge-1-agent` is edge-1's agent, not an edge."""
    for suffix in ROLE_SUFFIXES:
        if client_id.endswith(suffix) and len(client_id) > len(suffix):
            return client_id[: -len(suffix)], suffix[1:]
    return client_id, "controller"


def parse_signal(message: dict[str, Any]) -> Signal:
    """Validate what an IoT topic rule (or the local bridge) hands the ingress function:
    `{"topic": ..., "payload": <object>}` (payload already JSON-decoded or a string)."""
    topic = message.get("topic")
    if not isinstance(topic, str) or not topic:
        raise InputInvalid("topic: missing")
    raw = message.get("payload")
    if not isinstance(raw, str) and _value_depth(raw) > MAX_DEPTH:
        raise InputInvalid(f"payload: nested deeper than {MAX_DEPTH} levels")
    text = raw if isinstance(raw, str) else json.dumps(raw, default=str)
    if len(text.encode()) > MAX_PAYLOAD_BYTES:
        raise InputInvalid(
            f"payload: {len(text.encode())} bytes is over the {MAX_PAYLOAD_BYTES} byte limit"
        )
    if isinstance(raw, str):
        if nesting_depth(raw) > MAX_DEPTH:
            raise InputInvalid(f"payload: nested deeper than {MAX_DEPTH} levels")
        try:
            raw = json.loads(raw)  # NaN / Infinity decode; the models refuse them by field
        except (json.JSONDecodeError, RecursionError):
            raise InputInvalid("payload: not JSON") from None
    if not isinstance(raw, dict):
        raise InputInvalid("payload: must be a JSON object")
    if m := PRESENCE.match(topic):
        return _presence(m["edge"], m["kind"], raw)
    if m := PROVISION.match(topic):
        try:
            csr = CsrPayload.model_validate(raw).model_dump()
        except ValidationError as exc:
            raise InputInvalid.from_validation("csr payload", exc) from None
        return Signal(edgeId=m["edge"], kind="csr", payload=csr)
    m = TOPIC.match(topic)
    if not m:
        if any(c in topic for c in "+#"):
            raise InputInvalid(f"topic: wildcards are not an edge id: {topic[:80]!r}")
        raise InputInvalid(
            f"topic: {topic[:80]!r} is not lifo4/<edgeId>/(telemetry|status|commands/ack)"
        )
    kind = {"telemetry": "telemetry", "status": "status", "commands/ack": "ack"}[m["kind"]]
    if kind == "status":
        status, invalid = parse_status(raw)
        return Signal(edgeId=m["edge"], kind="status", payload=status, invalid=invalid)
    models: dict[str, type[BaseModel]] = {"telemetry": TelemetryPayload, "ack": AckPayload}
    try:
        payload = models[kind].model_validate(raw).model_dump()
    except ValidationError as exc:
        raise InputInvalid.from_validation(f"{kind} payload", exc) from None
    return Signal(edgeId=m["edge"], kind=kind, payload=payload)  # type: ignore[arg-type]


def _presence(client: str, kind: str, raw: dict[str, Any]) -> Signal:
    if not re.fullmatch(EDGE_ID, client):
        raise InputInvalid(f"topic: edge id {client!r} is not a valid edge id")
    try:
        event = PresencePayload.model_validate({"eventType": kind, "clientId": client, **raw})
    except ValidationError as exc:
        raise InputInvalid.from_validation("presence event", exc) from None
    if event.clientId != client or event.eventType != kind:
        raise InputInvalid(
            f"presence event: clientId/eventType {event.clientId!r}/{event.eventType!r} "
            f"disagree with the topic ({client!r}/{kind!r})"
        )
    thing, role = role_of(client)
    payload = {"state": kind, "role": role, **event.model_dump()}
    return Signal(
        edgeId=thing, kind="presence" if role == "controller" else "agent_presence", payload=payload
    )


def incident_id(edge_id: str, offline_since: datetime) -> str:
    digest = hashlib.sha256(f"{edge_id}|{offline_since.isoformat()}".encode()).hexdigest()[:12]
    return f"{AUTOMATION}-{edge_id}-{digest}"


def page_due(
    severity: str, offline_minutes: float, paged: list[str], overrides: dict[str, int] | None = None
) -> tuple[str | None, float | None]:
    """The level to page now (if any) and the minutes offline at which the next page falls."""
    schedule = sorted((overrides or PAGE_MINUTES.get(severity, {})).items(), key=lambda kv: kv[1])
    for level, minutes in schedule:
        if level in paged:
            continue
        if offline_minutes >= minutes:
            return level, None
        return None, float(minutes)
    return None, None


def parse_page_minutes(text: str) -> dict[str, int]:
    """`l1=10,l2=30,l3=60` (how operators configure the ladder per deployment)."""
    out: dict[str, int] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        level, _, minutes = part.partition("=")
        if level not in ("l1", "l2", "l3") or not minutes.isdigit():
            raise ValueError(f"page schedule {text!r}: expected like l1=10,l2=30,l3=60")
        out[level] = int(minutes)
    return out


def storm(
    *,
    site_offline: int,
    site_size: int,
    fleet_offline: int,
    fleet_size: int,
    site_min_edges: int = 5,
    site_fraction: float = 0.5,
    fleet_fraction: float = 0.2,
) -> Literal["fleet", "site"] | None:
    """Many edges of one site (or of the fleet) down together is one cause (ISP,
    broker), not N broken edges: open one incident and restart nobody. A fleet-wide
    outage that is all at one site is that site's incident."""
    fleet_storm = (
        bool(fleet_size)
        and fleet_offline >= site_min_edges
        and (fleet_offline / fleet_size > fleet_fraction)
    )
    site_storm = (
        bool(site_size)
        and site_offline >= site_min_edges
        and (site_offline / site_size >= site_fraction)
    )
    if fleet_storm and fleet_offline > site_offline:
        return "fleet"
    if site_storm:
        return "site"
    return "fleet" if fleet_storm else None


def data_gap(
    offline_since: datetime, back_at: datetime, *, interval_seconds: float, buffered: int
) -> dict[str, Any]:
    """Downtime, and how much telemetry is missing after the edge synced its buffer."""
    seconds = max(0.0, (back_at - offline_since).total_seconds())
    expected = int(seconds // interval_seconds)
    return {
        "downtimeMinutes": round(seconds / 60, 1),
        "gapSeconds": round(seconds, 1),
        "samplesExpected": expected,
        "samplesBuffered": min(buffered, expected),
        "samplesLost": max(0, expected - buffered),
    }
