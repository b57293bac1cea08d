"""Publish each system's forecast accuracy, the metric the accuracy alarm reads (runbook 000
section 3, "MAPE > 8% nos últimos 7 dias"): once a day, the serving model's MAPE over the
last 7 days of actuals, as `LIFO4/Forecast` `ForecastMAPE7d` with dimension `SystemId`
(`selfheal_shared/ml/forecast_alarm.json`). It reads and publishes; it changes no model."""

from __future__ import annotations

import math
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from selfheal_shared.core import clock, datalake
from selfheal_shared.core.clients import client
from selfheal_shared.core.errors import NothingFound
from selfheal_shared.core.handler import remediator
from selfheal_shared.core.models import parse
from selfheal_shared.core.observability import logger
from selfheal_shared.ml import forecast, forecast_accuracy

#: PutMetricData takes at most 1000 values per call.
BATCH = 1000


class AccuracyRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    trigger: Literal["schedule", "manual"] = "manual"
    scheduledTime: str | None = None
    #: One system; every system under `systems/` when absent.
    systemId: str | None = Field(default=None, pattern=datalake.ID_PATTERN)


@remediator
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    req = parse(AccuracyRequest, event, "retrain_accuracy input")
    end = clock.now().replace(minute=0, second=0, microsecond=0)
    systems = [req.systemId] if req.systemId else datalake.list_ids("systems/")
    if not systems:
        raise NothingFound("no systems under systems/ in the data bucket")
    published: dict[str, float] = {}
    skipped: dict[str, str] = {}
    data: list[dict[str, Any]] = []
    for system in systems:
        metrics, why = forecast_accuracy.serving_metrics(system, end)
        if metrics is None or not math.isfinite(metrics.mape):
            skipped[system] = why or "MAPE undefined (every actual is zero)"
            continue
        published[system] = round(metrics.mape, 4)
        data.append(
            {
                "MetricName": forecast.METRIC_NAME,
                "Dimensions": [{"Name": forecast.DIMENSION, "Value": system}],
                "Timestamp": end,
                "Value": metrics.mape,
                "Unit": forecast.ALARM["unit"],
            }
        )
    for n in range(0, len(data), BATCH):
        client("cloudwatch").put_metric_data(
            Namespace=forecast.METRIC_NAMESPACE, MetricData=data[n : n + BATCH]
        )
    logger.info("forecast accuracy published", extra={"published": published, "skipped": skipped})
    return {"at": end.isoformat(), "published": published, "skipped": skipped}
