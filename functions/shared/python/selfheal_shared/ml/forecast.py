"""Load forecasting models and their error metrics (runbook 000 section 3, E3). No I/O.

The models are deliberately simple and deterministic, so a test can know the expected
MAPE of a series in advance:
- `profile`: the mean load per hour of the week (168 values) over the training data;
- `seasonal_naive`: the load one week earlier, falling back to the profile;
- `ensemble`: the mean of the two (the runbook's default model type).
Metrics: MAPE (%, over hours with non-zero load), RMSE (kW) and accuracy by hour of day
(100 - that hour's MAPE, floored at 0). The runbook's evaluation is a backtest over the last
30 days: the candidate fitted on the window before them, the serving model, both scored on
those 30 days; `promotion` decides from the three metrics whether it is better. The model
that then serves is the same type fitted on the whole window (the backtest model rides
along in the artifact as `backtest.json`, so the evaluation scores exactly what the job
backtested).

The accuracy alarm (metric, threshold, period) is defined once, in `forecast_alarm.json`
beside this module: the CDK deploys it, the local world creates it, the publisher
(`functions/retrain_accuracy`) publishes its metric.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo

AUTOMATION = "retrain_model"
ModelType = Literal["seasonal_naive", "profile", "ensemble"]
MODEL_TYPES: tuple[str, ...] = ("seasonal_naive", "profile", "ensemble")
HOURS_PER_WEEK = 168
WEEK = timedelta(days=7)
HOUR = timedelta(hours=1)
#: The accuracy alarm, as deployed (CDK) and as created locally (local/world_reports.py).
ALARM: dict[str, Any] = json.loads((Path(__file__).parent / "forecast_alarm.json").read_text())
#: Runbook: retrain when MAPE over the last 7 days exceeds 8 %.
MAPE_ALARM_PERCENT = float(ALARM["threshold"])
MAPE_WINDOW_DAYS = int(ALARM["metricWindowDays"])
#: Runbook: "Backtesting nos últimos 30 dias": the held-back (scored) days of an evaluation.
BACKTEST_DAYS = 30
HOLDOUT_DAYS = BACKTEST_DAYS
#: The least a candidate is fitted on before the backtest window.
MIN_FIT_DAYS = 7
METRIC_NAMESPACE = str(ALARM["metric"]["namespace"])
METRIC_NAME = str(ALARM["metric"]["name"])
DIMENSION = str(next(iter(ALARM["metric"]["dimensions"])))


def alarm_name(system: str) -> str:
    return str(ALARM["alarmName"]).format(systemId=system)


def accuracy_alarm(system: str) -> dict[str, Any]:
    """CloudWatch PutMetricAlarm arguments of one system's accuracy alarm."""
    return {
        "AlarmName": alarm_name(system),
        "AlarmDescription": str(ALARM["description"]).format(systemId=system),
        "Namespace": METRIC_NAMESPACE,
        "MetricName": METRIC_NAME,
        "Dimensions": [{"Name": DIMENSION, "Value": system}],
        "Statistic": ALARM["statistic"],
        "Period": int(ALARM["periodSeconds"]),
        "EvaluationPeriods": int(ALARM["evaluationPeriods"]),
        "DatapointsToAlarm": int(ALARM["datapointsToAlarm"]),
        "Threshold": MAPE_ALARM_PERCENT,
        "ComparisonOperator": ALARM["comparisonOperator"],
        "TreatMissingData": ALARM["treatMissingData"],
        "Unit": ALARM["unit"],
    }


Series = dict[datetime, float]


def hour_of_week(at: datetime, tz: ZoneInfo) -> int:
    local = at.astimezone(tz)
    return local.weekday() * 24 + local.hour


@dataclass(frozen=True)
class Model:
    modelType: str
    timezone: str
    profile: tuple[float, ...]
    trainedFrom: str
    trainedTo: str
    points: int

    def to_json(self) -> dict[str, Any]:
        return {
            "modelType": self.modelType,
            "timezone": self.timezone,
            "profile": list(self.profile),
            "trainedFrom": self.trainedFrom,
            "trainedTo": self.trainedTo,
            "points": self.points,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Model:
        profile = tuple(float(v) for v in data["profile"])
        if len(profile) != HOURS_PER_WEEK:
            raise ValueError(f"model profile has {len(profile)} values, expected 168")
        if data["modelType"] not in MODEL_TYPES:
            raise ValueError(f"unknown modelType {data['modelType']!r}")
        return cls(
            modelType=data["modelType"],
            timezone=data["timezone"],
            profile=profile,
            trainedFrom=data["trainedFrom"],
            trainedTo=data["trainedTo"],
            points=int(data["points"]),
        )


def parse_series(text: str) -> Series:
    """`timestamp,kw` rows (hourly, ISO 8601 with offset) into a series keyed by UTC hour."""
    out: Series = {}
    for row in csv.DictReader(io.StringIO(text)):
        at = datetime.fromisoformat(row["timestamp"])
        if at.tzinfo is None:
            raise ValueError(f"timestamp {row['timestamp']!r} has no time zone")
        out[at.astimezone(UTC)] = float(row["kw"])
    return out


def series_csv(series: Series) -> str:
    lines = ["timestamp,kw"]
    lines += [f"{at.isoformat()},{kw:.4f}" for at, kw in sorted(series.items())]
    return "\n".join(lines) + "\n"


def split_holdout(series: Series, days: int = HOLDOUT_DAYS) -> tuple[Series, Series]:
    """(training part, the last `days` days held back for evaluation)."""
    if not series:
        raise ValueError("empty series")
    end = max(series) + HOUR
    cut = end - timedelta(days=days)
    train = {t: v for t, v in series.items() if t < cut}
    hold = {t: v for t, v in series.items() if t >= cut}
    return train, hold


def fit(series: Series, model_type: str, tz_name: str) -> Model:
    if model_type not in MODEL_TYPES:
        raise ValueError(f"modelType: {model_type!r} is not one of {', '.join(MODEL_TYPES)}")
    if not series:
        raise ValueError("no training data")
    tz = ZoneInfo(tz_name)
    sums = [0.0] * HOURS_PER_WEEK
    counts = [0] * HOURS_PER_WEEK
    by_hour: dict[int, list[float]] = {}
    for at, kw in series.items():
        how = hour_of_week(at, tz)
        sums[how] += kw
        counts[how] += 1
        by_hour.setdefault(how % 24, []).append(kw)
    overall = sum(series.values()) / len(series)
    profile = []
    for how in range(HOURS_PER_WEEK):
        if counts[how]:
            profile.append(sums[how] / counts[how])
        else:  # an hour of the week never seen: that hour of day, else the mean
            same = by_hour.get(how % 24)
            profile.append(sum(same) / len(same) if same else overall)
    return Model(
        modelType=model_type,
        timezone=tz_name,
        profile=tuple(round(v, 6) for v in profile),
        trainedFrom=min(series).isoformat(),
        trainedTo=(max(series) + HOUR).isoformat(),
        points=len(series),
    )


def predict(model: Model, hours: Iterable[datetime], history: Series) -> list[float]:
    """Forecast each hour; `history` holds the actuals known a week before (for naive)."""
    tz = ZoneInfo(model.timezone)
    out = []
    for at in hours:
        base = model.profile[hour_of_week(at, tz)]
        naive = history.get(at - WEEK)
        if model.modelType == "profile" or naive is None:
            out.append(base)
        elif model.modelType == "seasonal_naive":
            out.append(naive)
        else:
            out.append((base + naive) / 2)
    return out


@dataclass(frozen=True)
class Metrics:
    mape: float
    rmse: float
    points: int
    zeroActuals: int
    accuracyByHour: dict[int, float]

    def to_json(self) -> dict[str, Any]:
        return {
            "mape": round(self.mape, 4),
            "rmse": round(self.rmse, 4),
            "points": self.points,
            "zeroActuals": self.zeroActuals,
            "accuracyByHour": {str(h): round(a, 2) for h, a in sorted(self.accuracyByHour.items())},
        }


def metrics(
    actual: Sequence[float], predicted: Sequence[float], hours: Sequence[datetime], tz_name: str
) -> Metrics:
    """MAPE skips hours whose actual is 0 (undefined); RMSE uses every hour."""
    if not (len(actual) == len(predicted) == len(hours)) or not actual:
        raise ValueError("metrics need equally long, non-empty actual/predicted/hours")
    tz = ZoneInfo(tz_name)
    ape: list[float] = []
    per_hour: dict[int, list[float]] = {}
    sq = 0.0
    zeros = 0
    for a, p, at in zip(actual, predicted, hours, strict=True):
        sq += (a - p) ** 2
        if a == 0:
            zeros += 1
            continue
        err = abs(a - p) / abs(a) * 100
        ape.append(err)
        per_hour.setdefault(at.astimezone(tz).hour, []).append(err)
    mape = sum(ape) / len(ape) if ape else math.inf
    return Metrics(
        mape=mape,
        rmse=math.sqrt(sq / len(actual)),
        points=len(actual),
        zeroActuals=zeros,
        accuracyByHour={h: max(0.0, 100 - sum(v) / len(v)) for h, v in per_hour.items()},
    )


def evaluate(model: Model, holdout: Series, history: Series) -> Metrics:
    hours = sorted(holdout)
    known = {**history, **holdout}
    return metrics([holdout[h] for h in hours], predict(model, hours, known), hours, model.timezone)


def still_degraded(promoted: Metrics, previous: Metrics | None) -> str | None:
    """Why a promoted model does not fix the accuracy (runbook: MAPE > 8 %), or None."""
    if promoted.mape <= MAPE_ALARM_PERCENT:
        return None
    before = f"from {previous.mape:.2f} % " if previous else ""
    return (
        f"improved {before}to {promoted.mape:.2f} % over the {BACKTEST_DAYS}-day backtest, "
        f"still above the runbook's {MAPE_ALARM_PERCENT:g} %: forecast accuracy still "
        "degraded (P4, next business day)"
    )


def model_json_bytes(model: Model) -> bytes:
    return json.dumps(model.to_json(), sort_keys=True).encode()


MODEL_MEMBER, BACKTEST_MEMBER = "model.json", "backtest.json"


def pack_model(model: dict[str, Any], backtest: dict[str, Any] | None = None) -> bytes:
    """model.tar.gz as SageMaker writes it from /opt/ml/model (deterministic bytes): the
    model that serves, and the one fitted before the backtest window when there is one."""
    import gzip
    import tarfile

    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tar:
        for name, content in ((MODEL_MEMBER, model), (BACKTEST_MEMBER, backtest)):
            if content is None:
                continue
            body = json.dumps(content, sort_keys=True).encode()
            info = tarfile.TarInfo(name)
            info.size = len(body)
            tar.addfile(info, io.BytesIO(body))
    return gzip.compress(raw.getvalue(), mtime=0)


def unpack_model(blob: bytes, member: str = MODEL_MEMBER) -> Model:
    import tarfile

    with tarfile.open(fileobj=io.BytesIO(blob), mode="r:gz") as tar:
        try:
            found = tar.extractfile(member)
        except KeyError:
            found = None
        if found is None:
            raise ValueError(f"model.tar.gz has no {member}")
        return Model.from_json(json.loads(found.read()))
