"""Powertools set up once: structured logs keyed by incident, EMF metrics, X-Ray traces."""

from __future__ import annotations

from aws_lambda_powertools import Logger, Metrics, Tracer

logger = Logger(service="selfheal")
metrics = Metrics(namespace="selfheal", service="selfheal")
tracer = Tracer(service="selfheal")
