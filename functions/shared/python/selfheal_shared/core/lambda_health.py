"""Runbook 001's health check of a Lambda function (`scripts/rollback.py --action
health-check --functions ...`), one for every workflow that runs it (the critical failure's
impact assessment, the check after a maintenance window): the function exists and is
Active, its last update did not fail, and its Errors metric stayed under a threshold in
every minute of a window. Reads only (`lambda:GetFunctionConfiguration`,
`cloudwatch:GetMetricStatistics`)."""

from __future__ import annotations

from datetime import datetime

from .clients import client


def problem(
    name: str, *, since: datetime, until: datetime, errors_per_minute: float = 1
) -> str | None:
    """None when `name` is healthy; else what is wrong, in words for the page."""
    lam = client("lambda")
    try:
        cfg = lam.get_function_configuration(FunctionName=name)
    except lam.exceptions.ResourceNotFoundException:
        return "function not found"
    state = cfg.get("State", "Active")
    if state != "Active":
        return f"state {state}: {cfg.get('StateReason', '')}".rstrip(": ")
    if cfg.get("LastUpdateStatus", "Successful") == "Failed":
        return f"last update failed: {cfg.get('LastUpdateStatusReason', '')}".rstrip(": ")
    points = client("cloudwatch").get_metric_statistics(
        Namespace="AWS/Lambda",
        MetricName="Errors",
        Dimensions=[{"Name": "FunctionName", "Value": name}],
        StartTime=since,
        EndTime=until,
        Period=60,
        Statistics=["Sum"],
    )["Datapoints"]
    worst = max((float(p.get("Sum", 0)) for p in points), default=0.0)
    if worst < errors_per_minute:
        return None
    minutes = max(1, round((until - since).total_seconds() / 60))
    return (
        f"{worst:g} errors in a minute in the last {minutes} min (threshold {errors_per_minute:g})"
    )
