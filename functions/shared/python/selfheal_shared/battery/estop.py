"""The E-Stop incident (runbook 000 §5c, catalog E7): never reset by automation; a human
confirms the system is safe, and only that answer lets the reset go."""

from __future__ import annotations

from typing import Literal

from pydantic import ConfigDict, Field

from ..core.basemodel import Model
from .incident import BatteryAlarm

AUTOMATION = "emergency_stop"


class AlarmDetail(BatteryAlarm):
    alarm: str = Field(pattern="^EMERGENCY_STOP$")


class Approval(Model):
    """The runbook's own body for the reset: `{"confirmedSafe": true, "operator": ...}`."""

    model_config = ConfigDict(extra="forbid", strict=True)

    confirmedSafe: Literal[True]
    operator: str = Field(min_length=1, max_length=128)
