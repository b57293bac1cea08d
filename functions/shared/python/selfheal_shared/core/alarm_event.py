"""The CloudWatch alarm state-change event, on powertools' EventBridge model.

Its own module so that only the handlers that parse alarm events import the powertools
parser package; the alarm's detail (`models.AlarmStateChangeDetail`) is in `models`, which
every handler imports.
"""

from __future__ import annotations

from aws_lambda_powertools.utilities.parser.models import EventBridgeModel
from pydantic import ConfigDict

from .models import AlarmStateChangeDetail


class AlarmStateChangeEvent(EventBridgeModel):
    """EventBridge "CloudWatch Alarm State Change" (the documented shape)."""

    model_config = ConfigDict(defer_build=True)  # as basemodel.Model does

    detail: AlarmStateChangeDetail

    def metric_dimensions(self) -> dict[str, str]:
        """Dimensions of the first metric that has any, which is where the resource lives."""
        for m in self.detail.configuration.metrics:
            if m.metricStat and m.metricStat.metric.dimensions:
                return m.metricStat.metric.dimensions
        return {}
