"""Powertools set up once: structured logs keyed by incident, EMF metrics, X-Ray traces."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar, cast

from aws_lambda_powertools import Logger, Metrics, single_metric
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.metrics.functions import is_metrics_disabled
from aws_lambda_powertools.tracing import Tracer

F = TypeVar("F", bound=Callable[..., Any])


class LazyTracer:
    """Powertools' `Tracer`, built only where traces are sent.

    Building a `Tracer` imports the X-Ray SDK and patches botocore (~90 ms of cold start)
    even when tracing is off, which it is outside Lambda, under SAM local and with
    POWERTOOLS_TRACE_DISABLED: every test, the local runtime and a disabled deployment.
    """

    def __init__(self, service: str) -> None:
        self.service = service
        self._tracer: Tracer | None = None

    @staticmethod
    def enabled() -> bool:
        # Powertools' own rule, so "off" means exactly what it meant to a plain Tracer.
        return not Tracer._is_tracer_disabled()

    def capture_lambda_handler(self, handler: F) -> F:
        if not self.enabled():
            return handler
        if self._tracer is None:
            self._tracer = Tracer(service=self.service)
        return cast(F, self._tracer.capture_lambda_handler(handler))


logger = Logger(service="selfheal")
metrics = Metrics(namespace="selfheal", service="selfheal")
tracer = LazyTracer(service="selfheal")


def count(name: str, *, automation: str) -> None:
    """One EMF data point per call, dimensioned by automation (no state kept between calls)."""
    if is_metrics_disabled():  # single_metric does not check it by itself
        return
    with single_metric(name=name, unit=MetricUnit.Count, value=1, namespace="selfheal") as metric:
        metric.add_dimension(name="automation", value=automation)
