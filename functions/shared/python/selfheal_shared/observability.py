"""Powertools set up once: structured logs keyed by incident, EMF metrics, X-Ray traces."""

from __future__ import annotations

from aws_lambda_powertools import Logger, Metrics, Tracer, single_metric
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.metrics.functions import is_metrics_disabled

logger = Logger(service="selfheal")
metrics = Metrics(namespace="selfheal", service="selfheal")
tracer = Tracer(service="selfheal")


def count(name: str, *, automation: str) -> None:
    """One EMF data point per call, dimensioned by automation (no state kept between calls)."""
    if is_metrics_disabled():  # single_metric does not check it by itself
        return
    with single_metric(name=name, unit=MetricUnit.Count, value=1, namespace="selfheal") as metric:
        metric.add_dimension(name="automation", value=automation)
