"""The over-temperature incident (runbook 000 §5a, catalog E5): shared by its steps."""

from __future__ import annotations

from pydantic import Field

from .incident import BatteryAlarm

AUTOMATION = "over_temperature"


class AlarmDetail(BatteryAlarm):
    alarm: str = Field(pattern="^OVER_TEMPERATURE$")
