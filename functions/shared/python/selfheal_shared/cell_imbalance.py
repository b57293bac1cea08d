"""The cell-imbalance incident every step receives (runbook 000 §5b, catalog E6)."""

from __future__ import annotations

from pydantic import ConfigDict, Field

from .basemodel import Model
from .edges import EDGE_ID

AUTOMATION = "cell_imbalance"


class AlarmDetail(Model):
    """The `Edge Alarm Changed` event's detail, as `edge_ingress` emits it."""

    model_config = ConfigDict(extra="ignore")

    edgeId: str = Field(pattern=f"^{EDGE_ID}$")
    siteId: str = Field(min_length=1, max_length=128)
    alarm: str = Field(pattern="^CELL_VOLTAGE_IMBALANCE$")
    state: str = Field(pattern="^active$")
    severity: str = Field(pattern="^P[1-4]$")
    raisedAt: str = Field(min_length=1, max_length=64)


class Incident(Model):
    model_config = ConfigDict(extra="ignore")

    incidentId: str = Field(min_length=1)
    executionId: str = Field(min_length=1)
    edgeId: str = Field(pattern=f"^{EDGE_ID}$")
    siteId: str = Field(min_length=1)
    severity: str = "P1"
    raisedAt: str = Field(min_length=1)


def scopes(incident: Incident) -> tuple[str, ...]:
    return (f"site:{incident.siteId}", "fleet")
