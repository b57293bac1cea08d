"""The over-temperature incident (runbook 000 §5a, catalog E5): shared by its steps."""

from __future__ import annotations

from pydantic import Field

from .cell_imbalance import AlarmDetail as _Alarm

AUTOMATION = "over_temperature"


class AlarmDetail(_Alarm):
    alarm: str = Field(pattern="^OVER_TEMPERATURE$")
