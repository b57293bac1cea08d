"""Forecast models and metrics (selfheal_shared.ml.forecast) on series small enough that the
expected MAPE, RMSE and hourly accuracy are known in advance, and the SageMaker entry
point run on a real /opt/ml-shaped folder."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from selfheal_shared.ml import forecast, forecast_train, promotion

TZ = "America/Sao_Paulo"
START = datetime(2026, 10, 5, 3, tzinfo=UTC)  # Monday 00:00 in Sao Paulo


def shape(at: datetime) -> float:
    local = at.astimezone(forecast.ZoneInfo(TZ))
    return 100.0 + 10 * local.hour + (50 if local.weekday() < 5 else 0)


def series(days: int, factor_after: tuple[int, float] | None = None) -> forecast.Series:
    out = {}
    for n in range(days * 24):
        at = START + timedelta(hours=n)
        f = factor_after[1] if factor_after and n >= factor_after[0] * 24 else 1.0
        out[at] = shape(at) * f
    return out


def test_metrics_by_hand() -> None:
    hours = [START + timedelta(hours=n) for n in range(4)]  # local 00:00..03:00
    m = forecast.metrics([100, 200, 0, 50], [110, 180, 5, 50], hours, TZ)
    # APE 10 %, 10 %, (zero actual skipped), 0 % -> MAPE 6.667 %
    assert m.mape == pytest.approx(20 / 3)
    assert m.rmse == pytest.approx(math.sqrt((100 + 400 + 25 + 0) / 4))
    assert m.zeroActuals == 1 and m.points == 4
    assert m.accuracyByHour == {0: pytest.approx(90.0), 1: pytest.approx(90.0), 3: 100.0}


def test_accuracy_by_hour_floors_at_zero() -> None:
    m = forecast.metrics([10], [40], [START], TZ)  # 300 % error
    assert m.mape == pytest.approx(300) and m.accuracyByHour == {0: 0.0}


def test_profile_model_reproduces_a_periodic_series_exactly() -> None:
    data = series(21)
    train, held = forecast.split_holdout(data, 7)
    assert len(train) == 14 * 24 and len(held) == 7 * 24 and max(train) < min(held)
    model = forecast.fit(train, "profile", TZ)
    m = forecast.evaluate(model, held, train)
    assert m.mape == pytest.approx(0, abs=1e-9) and m.rmse == pytest.approx(0, abs=1e-9)


def test_known_mape_after_a_25_percent_step() -> None:
    """Load grows 25 % for the held-back week: a profile fitted before predicts 1/1.25 of it,
    so every hour is 20 % off and RMSE is 0.25 x the RMS of the old shape."""
    data = series(21, factor_after=(14, 1.25))
    train, held = forecast.split_holdout(data, 7)
    old = forecast.fit(train, "profile", TZ)
    m = forecast.evaluate(old, held, train)
    assert m.mape == pytest.approx(20.0)
    rms = math.sqrt(sum(shape(t) ** 2 for t in held) / len(held))
    assert m.rmse == pytest.approx(0.25 * rms)
    assert len(m.accuracyByHour) == 24
    assert list(m.accuracyByHour.values()) == pytest.approx([80.0] * 24)


def test_seasonal_naive_and_ensemble_use_last_week() -> None:
    data = series(21, factor_after=(14, 1.25))
    train, held = forecast.split_holdout(data, 7)
    hours = sorted(held)
    known = {**train, **held}
    naive = forecast.predict(forecast.fit(train, "seasonal_naive", TZ), hours, known)
    ens = forecast.predict(forecast.fit(train, "ensemble", TZ), hours, known)
    # last week (the week before the step) is the old level: 20 % off, like the profile;
    # the ensemble averages two identical forecasts here
    assert naive[0] == pytest.approx(shape(hours[0]))
    assert ens == pytest.approx(naive)
    # with a week of the new level behind it, naive is exact and the ensemble halfway
    later = [h + timedelta(days=7) for h in hours[:3]]
    extended = {**known, **{h: shape(h) * 1.25 for h in later}}
    assert forecast.predict(forecast.fit(train, "seasonal_naive", TZ), later, extended) == (
        pytest.approx([shape(h) * 1.25 for h in later])
    )
    assert forecast.predict(forecast.fit(train, "ensemble", TZ), later, extended) == (
        pytest.approx([shape(h) * 1.125 for h in later])
    )


def test_unseen_hours_fall_back_to_the_hour_of_day() -> None:
    weekdays_only = {
        t: v for t, v in series(7).items() if t.astimezone(forecast.ZoneInfo(TZ)).weekday() < 5
    }
    model = forecast.fit(weekdays_only, "profile", TZ)
    saturday_10h = 5 * 24 + 10
    assert model.profile[saturday_10h] == pytest.approx(100 + 100 + 50)  # weekday 10:00


@pytest.mark.parametrize(
    ("cand", "cur", "promote", "why"),
    [
        ((5.0, 1.0, 95.0), (9.0, 1.0, 95.0), True, "candidate better, no metric worse"),
        ((5.0, 0.9, 96.0), (9.0, 1.0, 95.0), True, "MAPE 5.00 % vs 9.00 %, RMSE 0.90 kW"),
        ((9.0, 1.0, 95.0), (9.0, 1.0, 95.0), False, "no metric better"),
        ((12.0, 1.0, 95.0), (9.0, 1.0, 95.0), False, "worse MAPE (12.00 % vs 9.00 %)"),
        ((5.0, 1.1, 95.0), (9.0, 1.0, 95.0), False, "worse RMSE (1.10 kW vs 1.00 kW)"),
        ((5.0, 0.9, 94.0), (9.0, 1.0, 95.0), False, "lower at 07h (94.00 % vs 95.00 %)"),
        ((5.0, 1.0, 95.0), None, True, "no current model"),
        ((math.inf, 1.0, 95.0), (9.0, 1.0, 95.0), False, "undefined"),
    ],
)
def test_promote_only_a_candidate_no_worse_on_any_metric_and_better_on_one(
    cand: tuple[float, float, float],
    cur: tuple[float, float, float] | None,
    promote: bool,
    why: str,
) -> None:
    """Runbook 000 §3 scores by "MAPE, RMSE, acurácia por hora do dia" and names no rule:
    a regression in any of them (at any hour) keeps the serving model."""

    def m(mape: float, rmse: float, at_7h: float) -> forecast.Metrics:
        return forecast.Metrics(
            mape=mape, rmse=rmse, points=1, zeroActuals=0, accuracyByHour={6: 99.0, 7: at_7h}
        )

    decision = promotion.decide(m(*cand), m(*cur) if cur is not None else None)
    assert decision.promote is promote and why in decision.reason, decision.reason


def test_model_artifact_round_trip_is_deterministic() -> None:
    model = forecast.fit(series(14), "ensemble", TZ)
    blob = forecast.pack_model(model.to_json())
    assert blob == forecast.pack_model(model.to_json())
    assert forecast.unpack_model(blob) == model
    with pytest.raises(ValueError, match="168"):
        forecast.Model.from_json({**model.to_json(), "profile": [1.0] * 24})


def test_training_entry_point_refuses_a_too_short_window() -> None:
    text = forecast.series_csv(series(33))  # 3 days before the 30 backtested
    with pytest.raises(ValueError, match="only 72 hours before the 30-day held-back period"):
        forecast_train.train(text, {"modelType": "profile"})


def test_training_backtests_30_days_and_serves_a_model_fitted_on_the_whole_window() -> None:
    """Runbook 000 §3: "Backtesting nos últimos 30 dias". Load 25 % up for the last 30 days
    of 44: the backtest model (the first 14 days) is 20 % off on all 30; the model that would
    serve is fitted on all 44 days."""
    text = forecast.series_csv(series(44, factor_after=(14, 1.25)))
    model, backtest, metrics = forecast_train.train(text, {"modelType": "profile"})
    assert backtest["points"] == 14 * 24 and model["points"] == 44 * 24
    assert metrics["points"] == 30 * 24 and metrics["mape"] == pytest.approx(20.0)
    blob = forecast.pack_model(model, backtest)
    assert forecast.unpack_model(blob).points == 44 * 24
    assert forecast.unpack_model(blob, forecast.BACKTEST_MEMBER).points == 14 * 24
    with pytest.raises(ValueError, match=r"no backtest\.json"):
        forecast.unpack_model(forecast.pack_model(model), forecast.BACKTEST_MEMBER)


@pytest.mark.parametrize(
    ("promoted", "previous", "degraded"),
    [
        (9.5, 20.0, "improved from 20.00 % to 9.50 %"),
        (9.5, None, "improved to 9.50 %"),
        (8.0, 20.0, None),  # the runbook's threshold is "> 8 %"
        (3.0, 20.0, None),
    ],
)
def test_a_promoted_model_above_8_percent_is_still_degraded(
    promoted: float, previous: float | None, degraded: str | None
) -> None:
    def m(mape: float) -> forecast.Metrics:
        return forecast.Metrics(mape=mape, rmse=1.0, points=1, zeroActuals=0, accuracyByHour={})

    why = forecast.still_degraded(m(promoted), m(previous) if previous is not None else None)
    if degraded is None:
        assert why is None
    else:
        assert why is not None and degraded in why and "P4" in why


def test_accuracy_alarm_is_the_runbooks_mape_over_7_days_above_8() -> None:
    """Runbook 000 §3: "MAPE > 8% nos últimos 7 dias", one alarm per system."""
    alarm = forecast.accuracy_alarm("bess-9")
    assert alarm["AlarmName"] == "forecast-mape-bess-9"
    assert (alarm["Namespace"], alarm["MetricName"]) == ("LIFO4/Forecast", "ForecastMAPE7d")
    assert alarm["Dimensions"] == [{"Name": "SystemId", "Value": "bess-9"}]
    assert alarm["Threshold"] == 8 and alarm["ComparisonOperator"] == "GreaterThanThreshold"
    assert forecast.MAPE_WINDOW_DAYS == 7


def test_training_entry_point_as_sagemaker_runs_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "input/config").mkdir(parents=True)
    (tmp_path / "input/data/train").mkdir(parents=True)
    (tmp_path / "input/config/hyperparameters.json").write_text(
        json.dumps({"modelType": "profile", "holdoutDays": "7", "timezone": TZ})
    )
    (tmp_path / "input/data/train/train.csv").write_text(
        forecast.series_csv(series(21, factor_after=(14, 1.25)))
    )
    assert forecast_train.main(str(tmp_path)) == 0
    model = forecast.Model.from_json(json.loads((tmp_path / "model/model.json").read_text()))
    backtest = json.loads((tmp_path / "model/backtest.json").read_text())
    assert model.points == 21 * 24 and model.modelType == "profile"
    assert backtest["points"] == 14 * 24
    assert "holdout:mape=20.0;" in capsys.readouterr().out

    (tmp_path / "input/config/hyperparameters.json").write_text(
        json.dumps({"modelType": "x", "holdoutDays": "7"})
    )
    assert forecast_train.main(str(tmp_path)) == 1
    assert "modelType" in (tmp_path / "output/failure").read_text()
