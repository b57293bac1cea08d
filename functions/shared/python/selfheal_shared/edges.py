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
    model_config = ConfigDict(extra="ignore")

    status: Literal["online", "offline", "autonomous"]
    reason: str = Field(default="", max_length=200)
    certificate: Literal["valid", "expired"] | None = None
    partition: Literal["ok", "bad"] | None = None
    #: Samples kept locally while offline and synced on reconnect.
    bufferedSamples: int = Field(default=0, ge=0, le=10_000_000)


class TelemetryPayload(Model):
    model_config = ConfigDict(extra="ignore")

    ts: float = Field(gt=0)
    soc: float = Field(ge=0, le=100)
    powerKw: float = Field(ge=-100_000, le=100_000)


class AckPayload(Model):
    model_config = ConfigDict(extra="ignore")

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
    kind: Literal["telemetry", "status", "ack", "presence"]
    payload: dict[str, Any]


def parse_signal(message: dict[str, Any]) -> Signal:
    """Validate what an IoT topic rule (or the local bridge) hands the ingress function:
    `{"topic": ..., "payload": <object>}` (payload already JSON-decoded or a string)."""
    topic = message.get("topic")
    if not isinstance(topic, str) or not topic:
        raise InputInvalid("topic: missing")
    raw = message.get("payload")
    text = raw if isinstance(raw, str) else json.dumps(raw, default=str)
    if len(text.encode()) > MAX_PAYLOAD_BYTES:
        raise InputInvalid(
            f"payload: {len(text.encode())} bytes is over the {MAX_PAYLOAD_BYTES} byte limit"
        )
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except json.JSONDecodeError:
            raise InputInvalid("payload: not JSON") from None
    if not isinstance(raw, dict):
        raise InputInvalid("payload: must be a JSON object")
    if m := PRESENCE.match(topic):
        edge = m["edge"]
        if not re.fullmatch(EDGE_ID, edge):
            raise InputInvalid(f"topic: edge id {edge!r} is not a valid edge id")
        return Signal(edgeId=edge, kind="presence", payload={"state": m["kind"], **raw})
    m = TOPIC.match(topic)
    if not m:
        if any(c in topic for c in "+#"):
            raise InputInvalid(f"topic: wildcards are not an edge id: {topic[:80]!r}")
        raise InputInvalid(
            f"topic: {topic[:80]!r} is not lifo4/<edgeId>/(telemetry|status|commands/ack)"
        )
    kind = {"telemetry": "telemetry", "status": "status", "commands/ack": "ack"}[m["kind"]]
    models: dict[str, type[BaseModel]] = {
        "telemetry": TelemetryPayload,
        "status": StatusPayload,
        "ack": AckPayload,
    }
    try:
        payload = models[kind].model_validate(raw).model_dump()
    except ValidationError as exc:
        raise InputInvalid.from_validation(f"{kind} payload", exc) from None
    return Signal(edgeId=m["edge"], kind=kind, payload=payload)  # type: ignore[arg-type]


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
