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
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ..core import severity as severity_table
from ..core.basemodel import Model
from ..core.errors import InputInvalid

# The one bound on nesting (input_bounds.py), re-exported for the edge's code and tests.
from ..core.input_bounds import MAX_DEPTH as MAX_DEPTH
from ..core.input_bounds import depth as _value_depth
from ..core.input_bounds import nesting_depth as nesting_depth

AUTOMATION = "edge_offline_ladder"
BUS = "selfheal-edge"
SOURCE = "selfheal.edge"
CONNECTIVITY = "Edge Connectivity Changed"
STALE = "Edge Telemetry Stale"
#: IoT Core accepts 128 KB; nothing an edge legitimately sends is near that.
MAX_PAYLOAD_BYTES = 16 * 1024
EDGE_ID = r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}"
TOPIC = re.compile(rf"^lifo4/(?P<edge>{EDGE_ID})/(?P<kind>telemetry|status|commands/ack|alarms)$")
#: An edge raised or cleared a battery alarm (`lifo4/{edgeId}/alarms`, runbook 000 §5/§6).
ALARM = "Edge Alarm Changed"
PRESENCE = re.compile(r"^\$aws/events/presence/(?P<kind>connected|disconnected)/(?P<edge>[^/]+)$")
#: The provisioning (claim) channel: a connection authenticated by the fleet's claim
#: certificate, client id `<edgeId>-claim`, so it works when the edge's own certificate has
#: expired. The edge sends a CSR (its private key never leaves it); the cloud answers with
#: the certificate on `.../certificate`.
PROVISION = re.compile(rf"^lifo4/provision/(?P<edge>{EDGE_ID})-claim/csr$")
#: Client ids of an edge's other processes: `<thing>-agent` (the management agent) and
#: `<thing>-claim` (the provisioning client). Their presence is not the edge's.
ROLE_SUFFIXES = ("-agent", "-claim")
STALE_AFTER = timedelta(seconds=30)
COMMANDS = (
    "probe",
    "restart",
    "renew",
    "ota-rollback",
    "equalize",
    "stop",
    "reset-emergency-stop",
)

#: Minutes offline at which each level is paged, by severity: the one table (severity.py).
PAGE_MINUTES = severity_table.PAGE_MINUTES


class StatusPayload(Model):
    """`status` is what counts; a bad optional field is dropped and reported, never a
    reason to lose an `offline` (see `parse_status`)."""

    model_config = ConfigDict(extra="ignore", allow_inf_nan=False)

    status: Literal["online", "offline", "autonomous"]
    reason: str = Field(default="", max_length=200)
    certificate: Literal["valid", "expired"] | None = None
    partition: Literal["ok", "bad"] | None = None
    #: The firmware the controller runs, as it reports it (a forced OTA is verified on it).
    firmwareVersion: str | None = Field(
        default=None, pattern=r"^[0-9]+(\.[0-9]+){1,3}([-+][A-Za-z0-9.]{1,32})?$"
    )
    #: Samples kept locally while offline and synced on reconnect.
    bufferedSamples: int = Field(default=0, ge=0, le=10_000_000)
    #: Alarms active on the battery system (runbook 000 §5 names), e.g. OVER_TEMPERATURE.
    alarms: list[Annotated[str, Field(pattern=r"^[A-Z][A-Z0-9_]{0,39}$")]] = Field(
        default_factory=list, max_length=16
    )


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
    #: Cell voltages in mV (runbook 000 §5b "Ver detalhes de células"), when the edge sends them.
    cellsMv: list[Annotated[int, Field(ge=0, le=10_000)]] | None = Field(
        default=None, min_length=2, max_length=1024
    )
    temperatureC: float | None = Field(default=None, ge=-60, le=200)


class AlarmPayload(Model):
    """`lifo4/{edgeId}/alarms`: one alarm raised (`active`) or cleared."""

    model_config = ConfigDict(extra="ignore", allow_inf_nan=False)

    alarm: Literal[
        "OVER_TEMPERATURE",
        "CELL_VOLTAGE_IMBALANCE",
        "CELL_FAILURE",
        "EMERGENCY_STOP",
        "COMMUNICATION_LOSS",
        "SOC_CRITICAL",
        "HIGH_LATENCY",
        "MQTT_UNSTABLE",
        "MAINTENANCE_WARNING",
    ]
    state: Literal["active", "cleared"] = "active"
    ts: float = Field(gt=0)
    reason: str = Field(default="", max_length=200)


#: Runbook 000 §6 "Níveis de severidade" by alarm kind (P1 battery/safety, P2 SOC critical,
#: P3 latency/MQTT unstable, P4 maintenance warning); "Cell failure" is a P1 example there.
ALARM_SEVERITY = {
    "OVER_TEMPERATURE": "P1",
    "CELL_VOLTAGE_IMBALANCE": "P1",
    "CELL_FAILURE": "P1",
    "EMERGENCY_STOP": "P1",
    "COMMUNICATION_LOSS": "P2",
    "SOC_CRITICAL": "P2",
    "HIGH_LATENCY": "P3",
    "MQTT_UNSTABLE": "P3",
    "MAINTENANCE_WARNING": "P4",
}


class AckPayload(Model):
    model_config = ConfigDict(extra="ignore", allow_inf_nan=False)

    commandId: str = Field(pattern=r"^[A-Za-z0-9_.:-]{1,128}$")
    command: Literal[
        "probe", "restart", "renew", "ota-rollback", "equalize", "stop", "reset-emergency-stop"
    ]
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
    """The wider scopes whose silences also cover an edge's outage (runbook 000 §6): its
    site, the fleet, and its COMMUNICATION_LOSS alarm (`alarm:<edgeId>:COMMUNICATION_LOSS`,
    the runbook's `/alarms/{alarmId}/silence`): §5 "COMMUNICATION_LOSS → ver item 1", the
    outage is that alarm's incident, whichever signal saw it first."""
    return (f"site:{incident.siteId}", "fleet", alarm_scope(incident.edgeId, COMMUNICATION_LOSS))


#: Runbook 000 §5 "COMMUNICATION_LOSS → ver item 1 (edge offline)".
COMMUNICATION_LOSS = "COMMUNICATION_LOSS"


def alarm_scope(edge_id: str, alarm: str) -> str:
    """The silence scope of one alarm of one edge (`guards.SILENCE_SCOPE`)."""
    return f"alarm:{edge_id}:{alarm}"


class Signal(Model):
    """One normalized message from or about an edge."""

    edgeId: str
    kind: Literal["telemetry", "status", "ack", "presence", "agent_presence", "csr", "alarm"]
    payload: dict[str, Any]
    #: Optional fields that were invalid and dropped: `field: error` (reported, kept).
    invalid: list[str] = Field(default_factory=list)


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
            f"topic: {topic[:80]!r} is not lifo4/<edgeId>/(telemetry|status|commands/ack|alarms)"
        )
    kind = {"telemetry": "telemetry", "status": "status", "commands/ack": "ack", "alarms": "alarm"}[
        m["kind"]
    ]
    if kind == "status":
        status, invalid = parse_status(raw)
        return Signal(edgeId=m["edge"], kind="status", payload=status, invalid=invalid)
    models: dict[str, type[BaseModel]] = {
        "telemetry": TelemetryPayload,
        "ack": AckPayload,
        "alarm": AlarmPayload,
    }
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


#: Runbook 000 §6: "P2 - HIGH | < 1h | Edge offline > 10min".
P2_AFTER_MINUTES = 10.0
#: Alarms of runbook 000 §5 ("P1 = Impacto crítico em bateria ou segurança"): losing sight
#: of an edge that last reported one of them is P1 from the first minute.
P1_ALARMS = frozenset(
    {"OVER_TEMPERATURE", "EMERGENCY_STOP", "CELL_VOLTAGE_IMBALANCE", "CELL_FAILURE"}
)


def opening_severity(alarms: object) -> str:
    """P1 when the edge's last report had a battery/safety alarm active (stored by the
    registry as a comma-separated text), else P3 until the outage lasts 10 minutes."""
    active = set(str(alarms or "").split(","))
    return "P1" if active & P1_ALARMS else "P3"


def severity(base: str, offline_minutes: float) -> str:
    """The incident's severity now (runbook 000 §6). `base` is what the edge's last report
    made it at open: P1 (a battery/safety alarm was active) stays P1, P4 (autonomous) stays
    P4; otherwise an outage is P3 ("MQTT instável") until it has lasted more than 10 minutes,
    then P2 ("Edge offline > 10min")."""
    if base in ("P1", "P4"):
        return base
    return "P2" if offline_minutes > P2_AFTER_MINUTES else "P3"


#: The level to page now and when the next page falls (the one table's clock).
page_due = severity_table.page_due


def next_page(
    base: str,
    offline_minutes: float,
    paged: list[str],
    overrides: dict[str, dict[str, int]] | None = None,
) -> tuple[str, str | None, float | None]:
    """(severity now, level to page now, minutes offline of the next page), counting the
    moment a P3 outage becomes P2 (its first P2 page falls just after 10 minutes)."""
    now = severity(base, offline_minutes)
    level, next_at = page_due(now, offline_minutes, paged, overrides)
    if now == "P3" and level is None:
        becomes_p2 = P2_AFTER_MINUTES + 1 / 60
        p2_level, p2_at = page_due("P2", becomes_p2, paged, overrides)
        at = becomes_p2 if p2_level else p2_at
        if at is not None:
            next_at = at if next_at is None else min(next_at, at)
    return now, level, next_at


def parse_page_minutes(text: str) -> dict[str, dict[str, int]]:
    """`P1:l1=0,l2=15;P2:l1=10,l2=30,l3=60` (how operators change the ladder per deployment,
    per severity; a severity not named keeps the runbook's schedule)."""
    out: dict[str, dict[str, int]] = {}
    expected = f"page schedule {text!r}: expected like P2:l1=10,l2=30,l3=60;P3:l1=60"
    for block in filter(None, (b.strip() for b in text.split(";"))):
        sev, sep, levels = block.partition(":")
        if not sep or sev.strip() not in PAGE_MINUTES:
            raise ValueError(expected)
        schedule: dict[str, int] = {}
        for part in filter(None, (p.strip() for p in levels.split(","))):
            level, _, minutes = part.partition("=")
            if level not in ("l1", "l2", "l3") or not minutes.isdigit():
                raise ValueError(expected)
            schedule[level] = int(minutes)
        out[sev.strip()] = schedule
    return out


def restart_cap(fleet_size: int, percent: float) -> int:
    """Restarts allowed in any sliding 60 s: `percent` of the fleet, at least one (a fleet
    of 7 edges could otherwise never restart one)."""
    return max(1, int(fleet_size * percent / 100))


def slot_wait(window: list[float], now: float, cap: int) -> float:
    """Seconds until the sliding 60 s window of restart times has room (0: room now)."""
    recent = sorted(t for t in window if t > now - 60)
    if len(recent) < cap:
        return 0.0
    return recent[len(recent) - cap] + 60 - now


Cause = Literal[
    "back", "hung_process", "certificate_expired", "partition_bad", "unreachable", "undetermined"
]


def diagnose(
    *,
    online: bool,
    probe: dict[str, Any] | None,
    probe_id: str | None,
    certificate: str,
    partition: str,
    site_online: int,
    site_size: int,
) -> tuple[Cause, list[str]]:
    """The runbook's causes (000 §1, "Resolução") from the evidence, and the evidence that
    points to the cause. The site-without-internet cause is decided earlier (the storm
    check), from the whole site; this is one edge whose site is not all silent."""
    if online:
        return "back", ["the edge is online again"]
    site = (
        f"{site_online} of {site_size} edges at the site are online (its network works)"
        if site_online
        else f"no other edge of the site is known online ({site_size} registered)"
    )
    detail = (probe or {}).get("detail", "")
    if certificate == "expired" or detail == "certificate_expired":
        how = (
            f"the agent answered probe {probe_id}: certificate_expired"
            if detail == "certificate_expired"
            else "the edge's last status reported its MQTT certificate expired"
        )
        return "certificate_expired", [how, site]
    if partition == "bad" or detail == "partition_bad":
        how = (
            f"the agent answered probe {probe_id}: partition_bad"
            if detail == "partition_bad"
            else "the edge's last status reported a bad partition"
        )
        return "partition_bad", [how, site]
    if probe is not None and probe.get("result") == "ok":
        return "hung_process", [
            f"the agent answered probe {probe_id} while the controller stays offline",
            site,
        ]
    if probe is not None:
        return "undetermined", [
            f"the agent answered probe {probe_id} with {probe.get('result')} "
            f"{detail or '(no detail)'}",
            site,
        ]
    return "unreachable", [f"no answer to probe {probe_id} (controller and agent silent)", site]


def hardware_evidence(
    cause: str, offline_minutes: float, site_online: int, after_minutes: float
) -> str | None:
    """Why a hardware replacement is due, or None: only for an edge whose agent and
    controller are both silent while the site's network works (another edge of the site is
    online), for `after_minutes` — not after one unanswered restart."""
    if cause != "unreachable" or site_online < 1 or offline_minutes < after_minutes:
        return None
    return (
        f"controller and agent silent for {offline_minutes:.0f} min while {site_online} "
        "other edge(s) of the site are online: the site's network works, the box does not"
    )


#: Edges of one site that went silent within this many minutes went silent together.
TOGETHER_MINUTES = 10


def site_silent(site_edges: list[dict[str, Any]], site_size: int) -> str | None:
    """When every edge of the site (two or more) went silent together, the moment the last
    one did (the site lost its internet: the edges run autonomously, runbook 000 §1 "Não é
    incidente"); else None. One edge alone silent is not evidence about its site, nor are
    edges that died days apart."""
    silent = [e for e in site_edges if e.get("state") in ("offline", "autonomous")]
    if site_size < 2 or len(silent) < site_size:
        return None
    since = sorted(str(e.get("offlineSince") or "") for e in silent)
    if not since[0]:
        return None
    spread = datetime.fromisoformat(since[-1]) - datetime.fromisoformat(since[0])
    return since[-1] if spread <= timedelta(minutes=TOGETHER_MINUTES) else None


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


def active_alarms(edge: dict[str, Any]) -> frozenset[str]:
    """The edge's active battery alarms: those raised on `lifo4/{edgeId}/alarms` (until
    cleared there) and those its last status listed."""
    both = f"{edge.get('alarms') or ''},{edge.get('statusAlarms') or ''}"
    return frozenset(a for a in both.split(",") if a)
