"""The serving forecast's accuracy over the last days of actuals: what the accuracy alarm
reads (runbook 000 section 3, "MAPE > 8% nos últimos 7 dias"), computed the same way by
the deployed publisher (`functions/retrain_accuracy`) and by the local world."""

from __future__ import annotations

from datetime import datetime, timedelta

from . import forecast, registry, systems


def serving_metrics(system: str, end: datetime) -> tuple[forecast.Metrics | None, str]:
    """(the serving model's metrics over the `MAPE_WINDOW_DAYS` before `end`, why not)."""
    serving = registry.serving(system)
    if not serving:
        return None, "no approved model serves"
    days = forecast.MAPE_WINDOW_DAYS
    # A week before the window too: the seasonal-naive part forecasts from a week earlier.
    recent = systems.load_series(system, end - timedelta(days=2 * days), end)
    if not recent:
        return None, f"no actuals in the last {2 * days} days"
    history, last = forecast.split_holdout(recent, days)
    model = registry.load_model(registry.model_url(serving))
    return forecast.evaluate(model, last, history), ""
