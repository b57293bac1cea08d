"""What `functions/service_probe` measures every minute: the metrics of the alarms whose
publisher is the probe (`events/alarms/*.json`, publisher `probe`), read from the services
the way the runbooks check them by hand.

- `service`: each described service that names alarms (`services/*.json` `alarms`), by its
  verify check: `health` -> `Selfheal/Services HealthCheckFailed` (1 when `healthPath` does
  not answer 200 in time, else 0; runbook 002 "curl /health falha"); `backlog_drains` ->
  `QueueBacklogNotDraining` (the jobs still queued after waiting for the queue to empty, 0
  when it drained, 1 when the worker does not answer: nothing consumes; runbook 002 "Jobs
  queued crescendo?"); `fresh_data` -> `HoursSinceLastData` (`/health/dados-recentes`;
  runbook 004), nothing when the backend does not answer (its instance health alarm is
  that case's).
- `instance_health`: each instance registered for an ingestion scope of a described
  ingestion service (Parameter Store `/selfheal/ingestion/<group>/instances`), read on its
  host through SSM (the read-only OBSERVE document the failover reads it with) ->
  `Aupus/Ingestion InstanceHealthy` (1 when pm2 runs aupus-api and `/health/mqtt` says
  connected, 0 otherwise or when the host does not answer; runbook 004 "pm2 status",
  "curl http://localhost:3000/health/mqtt").
- `ingestion_metrics`: the ingestion backend's `/health/metrics`, read on its host (the
  equipment report) -> `DataPlatform/Quality CoveragePercent` and `GoodQualityPercent` per
  scope (runbook 004 "Dados Parciais": `dataIngestion.last24h.coverage`,
  `quality.last24h.goodPercentage`).

Nothing measured is nothing published: the alarm treats it as missing data.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..core import clock
from ..core.clients import client
from ..core.errors import ActionFailed, InputInvalid, NothingFound
from ..ingestion import ingestion_instances
from . import service_ops, service_spec

SERVICES_NAMESPACE = "Selfheal/Services"
INGESTION_NAMESPACE = "Aupus/Ingestion"
QUALITY_NAMESPACE = "DataPlatform/Quality"
#: A service's verify check -> the metric the probe publishes for it.
SERVICE_METRICS = {
    "health": "HealthCheckFailed",
    "backlog_drains": "QueueBacklogNotDraining",
    "fresh_data": "HoursSinceLastData",
}
#: `/health/metrics` field (runbook 004) -> the metric the probe publishes per scope.
INGESTION_FIELDS = {"CoveragePercent": "coverage", "GoodQualityPercent": "goodPercentage"}
INSTANCE_METRIC = "InstanceHealthy"


@dataclass(frozen=True)
class Planned:
    """One metric the probe publishes. `instance_health` metrics get their `Instance`
    dimension from the registry at run time (one per registered instance)."""

    check: str  # service | instance_health | ingestion_metrics
    namespace: str
    metric: str
    dimensions: dict[str, str] = field(default_factory=dict)
    service: str = ""
    group: str = ""
    field: str = ""


def plan(specs: dict[str, service_spec.ServiceSpec] | None = None) -> list[Planned]:
    """Every metric the probe publishes, from the service descriptions."""
    specs = service_spec.load() if specs is None else specs
    out: list[Planned] = []
    for spec in specs.values():
        if spec.alarms:
            out.append(
                Planned(
                    "service",
                    SERVICES_NAMESPACE,
                    SERVICE_METRICS[spec.verify.check],
                    {"Service": spec.name},
                    service=spec.name,
                )
            )
        for scope in spec.ingestionScopes:
            out.append(
                Planned(
                    "instance_health",
                    INGESTION_NAMESPACE,
                    INSTANCE_METRIC,
                    {"IngestionGroup": scope},
                    group=scope,
                )
            )
            for metric, path in INGESTION_FIELDS.items():
                out.append(
                    Planned(
                        "ingestion_metrics",
                        QUALITY_NAMESPACE,
                        metric,
                        {"IngestionScope": scope},
                        service=spec.name,
                        field=path,
                    )
                )
    return out


def _service_value(spec: service_spec.ServiceSpec) -> tuple[float | None, str]:
    probe = service_ops.probe(spec)
    check = spec.verify.check
    if check == "health":
        return (0.0 if probe.up else 1.0), probe.detail
    if check == "backlog_drains":
        if probe.up:
            return 0.0, probe.detail
        depth = probe.data.get("depth")
        return (float(depth) if isinstance(depth, int) and depth > 0 else 1.0), probe.detail
    hours = probe.data.get("hoursSinceLastData")
    return (float(hours) if isinstance(hours, int | float) else None), probe.detail


def _field(doc: Any, path: str) -> float | None:
    for key in path.split("."):
        if not isinstance(doc, dict):
            return None
        doc = doc.get(key)
    return float(doc) if isinstance(doc, int | float) and not isinstance(doc, bool) else None


def measure(p: Planned) -> tuple[list[tuple[dict[str, str], float]], str]:
    """The datapoints (dimensions, value) of one planned metric, and what was seen."""
    try:
        if p.check == "service":
            value, seen = _service_value(service_spec.get(p.service))
            return ([(p.dimensions, value)] if value is not None else []), seen
        if p.check == "ingestion_metrics":
            # `/health/metrics` as read on the backend's host (the equipment report).
            report = service_ops.equipment_report(service_spec.get(p.service))
            value = _field(report, p.field)
            seen = f"/health/metrics: {p.field} = {value}"
            return ([(p.dimensions, value)] if value is not None else []), seen
        # Each instance read on its host (the read-only OBSERVE document, over SSM: the
        # Lambda reaches no VPS's localhost): healthy when pm2 runs aupus-api and its
        # /health/mqtt says connected; a host that does not answer is an unhealthy instance.
        observed = ingestion_instances.observe_all(ingestion_instances.registry(p.group))
        out = [({**p.dimensions, "Instance": o.name}, 1.0 if o.healthy else 0.0) for o in observed]
        return out, "; ".join(o.describe() for o in observed)
    except (InputInvalid, NothingFound, ActionFailed) as exc:
        # No endpoint configured, no host, nothing registered, a report that did not read.
        return [], str(exc)


def publish(planned: list[Planned] | None = None) -> dict[str, Any]:
    """Measure every planned metric now and put what was measured (one call per namespace)."""
    now = clock.now()
    data: dict[str, list[dict[str, Any]]] = {}
    published: dict[str, float] = {}
    skipped: dict[str, str] = {}
    for p in plan() if planned is None else planned:
        points, seen = measure(p)
        label = f"{p.namespace}/{p.metric} {p.dimensions}"
        if not points:
            skipped[label] = seen
        for dims, value in points:
            published[f"{p.namespace}/{p.metric} {dims}"] = value
            data.setdefault(p.namespace, []).append(
                {
                    "MetricName": p.metric,
                    "Dimensions": [{"Name": k, "Value": v} for k, v in dims.items()],
                    "Timestamp": now,
                    "Value": value,
                }
            )
    for namespace, metrics in data.items():
        client("cloudwatch").put_metric_data(Namespace=namespace, MetricData=metrics)
    return {"at": now.isoformat(), "published": published, "skipped": skipped}
