"""A system's forecasting settings (`systems/<systemId>/system.json`) and its hourly load
actuals (`systems/<systemId>/load/<YYYY-MM>.csv`), read from the EMS exports in the `data`
bucket (`core.datalake`: the layout and the reads)."""

from __future__ import annotations

from datetime import datetime

from pydantic import ConfigDict, Field

from ..core.basemodel import Model
from ..core.datalake import ID_PATTERN, load_key, months_between, read
from ..core.errors import NothingFound
from .forecast import MODEL_TYPES, Series, parse_series


class SystemConfig(Model):
    model_config = ConfigDict(extra="forbid")

    systemId: str = Field(pattern=ID_PATTERN)
    organizationId: str = Field(pattern=ID_PATTERN)
    modelType: str = Field(pattern="^(" + "|".join(MODEL_TYPES) + ")$")
    #: The 30-day backtest and a week before it to fit (runbook 000 section 3).
    trainingWindowDays: int = Field(ge=37, le=365)
    timezone: str = "America/Sao_Paulo"


def load_series(system: str, start: datetime, end: datetime) -> Series:
    """Hourly actuals in [start, end); months with no export are simply absent."""
    series: Series = {}
    for month in months_between(start, end):
        try:
            text = read(load_key(system, month)).decode()
        except NothingFound:
            continue
        series.update({t: v for t, v in parse_series(text).items() if start <= t < end})
    return series
