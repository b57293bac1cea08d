"""The cell-imbalance workflow (runbook 000 §5b, catalog E6): its automation and its alarm;
its incident is the battery incident every battery workflow shares (`incident`)."""

from __future__ import annotations

from pydantic import Field

from .incident import BatteryAlarm

AUTOMATION = "cell_imbalance"


class AlarmDetail(BatteryAlarm):
    alarm: str = Field(pattern="^CELL_VOLTAGE_IMBALANCE$")
