"""COMMUNICATION_LOSS from a controller that is connected (runbook 000 §5 → §1): the cloud
link works, since the alarm came over it or the registry sees the controller online, so
what is lost is a link behind the controller (its BMS, its inverter). Restarting the
controller fixes none of that: the cause is diagnosed from what the alarm and the last
telemetry say, and people are paged on the severity clock. No I/O here."""

from __future__ import annotations

import hashlib
import re
from typing import Any, Literal

from pydantic import ConfigDict, Field

from ..core.basemodel import Model
from .edges import COMMUNICATION_LOSS, EDGE_ID, alarm_scope

AUTOMATION = "edge_link_lost"
Link = Literal["bms", "inverter", "undetermined"]

#: Words an edge's alarm reason uses for each link (firmware texts, Portuguese and English).
_WORDS: dict[str, re.Pattern[str]] = {
    "bms": re.compile(r"\b(bms|battery management|can ?bus|c[ée]lulas?|cells?)\b", re.I),
    "inverter": re.compile(r"\b(inverter|inversor|pcs|modbus)\b", re.I),
}


class LinkAlarm(Model):
    """The `Edge Alarm Changed` detail the registry emits for a connected controller."""

    model_config = ConfigDict(extra="ignore")

    edgeId: str = Field(pattern=f"^{EDGE_ID}$")
    siteId: str = Field(min_length=1, max_length=128)
    alarm: str = Field(pattern=f"^{COMMUNICATION_LOSS}$")
    state: str = Field(pattern="^active$")
    severity: str = Field(pattern="^P[1-4]$")
    reason: str = Field(default="", max_length=400)
    raisedAt: str = Field(min_length=1, max_length=64)
    controllerConnected: bool


class LinkIncident(Model):
    """What every step of the link-loss workflow receives."""

    model_config = ConfigDict(extra="ignore")

    incidentId: str = Field(min_length=1)
    executionId: str = Field(min_length=1)
    edgeId: str = Field(pattern=f"^{EDGE_ID}$")
    siteId: str = Field(min_length=1)
    severity: str = "P2"
    raisedAt: str = Field(min_length=1)
    link: str = "undetermined"
    evidence: str = ""


def incident_id(edge_id: str, raised_at: str) -> str:
    digest = hashlib.sha256(f"{edge_id}|{raised_at}".encode()).hexdigest()[:12]
    return f"{AUTOMATION}-{edge_id}-{digest}"


def scopes(incident: LinkIncident) -> tuple[str, ...]:
    """Silences that cover it besides the edge: its alarm, its site, the fleet."""
    return (alarm_scope(incident.edgeId, COMMUNICATION_LOSS), f"site:{incident.siteId}", "fleet")


def diagnose(reason: str, edge: dict[str, Any]) -> tuple[Link, str]:
    """Which link is lost, and the evidence: the alarm's own words name it (else it is
    undetermined: said so, never guessed); the last telemetry is given beside it."""
    named = [link for link, words in _WORDS.items() if words.search(reason)]
    seen = _telemetry(edge)
    if len(named) == 1:
        link: Link = "bms" if named[0] == "bms" else "inverter"
        return link, f"the alarm names the {link.upper()} link: {reason!r}; {seen}"
    if len(named) > 1:
        return "undetermined", f"the alarm names several links: {reason!r}; {seen}"
    return "undetermined", f"the alarm does not name the link ({reason or 'no reason'}); {seen}"


def _telemetry(edge: dict[str, Any]) -> str:
    at = edge.get("lastTelemetryAt")
    if not at:
        return "no telemetry received from the controller"
    return (
        f"last telemetry at {at}: SOC {edge.get('soc', '?')} %, power {edge.get('powerKw', '?')} kW"
    )
