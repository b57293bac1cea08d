"""The SageMaker training job's entry point: `python -m selfheal_shared.ml.forecast_train`.

SageMaker gives the job its channel under /opt/ml/input/data/train/, its hyperparameters
in /opt/ml/input/config/hyperparameters.json, and tars /opt/ml/model/ into model.tar.gz.
The job backtests (fits on the window less the last `holdoutDays`, the runbook's 30, and
scores those days), prints the backtest metrics in the `name=value;` form the job's
MetricDefinitions read, and writes the model fitted on the whole window (`model.json`, what
serves if promoted) beside the backtest one (`backtest.json`, what the evaluation
re-scores). The local runtime calls `train` in-process for the same result
(local/sagemaker_local.py).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from .forecast import HOLDOUT_DAYS, MIN_FIT_DAYS, evaluate, fit, parse_series, split_holdout

#: A week to fit, less the few hours a real feed misses (gaps, the hour not landed yet).
MIN_TRAINING_HOURS = int(MIN_FIT_DAYS * 24 * 0.95)
DEFAULT_TZ = "America/Sao_Paulo"
#: What the training job's MetricDefinitions match in its log.
METRIC_REGEX = {
    "holdout:mape": r"holdout:mape=([0-9.]+);",
    "holdout:rmse": r"holdout:rmse=([0-9.]+);",
}


def train(
    csv_text: str, hyperparameters: dict[str, str]
) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """(model fitted on the whole window, backtest model, its backtest metrics)."""
    series = parse_series(csv_text)
    holdout_days = int(hyperparameters.get("holdoutDays", HOLDOUT_DAYS))
    part, held = split_holdout(series, holdout_days)
    if len(part) < MIN_TRAINING_HOURS:
        raise ValueError(
            f"only {len(part)} hours before the {holdout_days}-day held-back period; "
            f"need at least {MIN_TRAINING_HOURS}"
        )
    kind, tz = hyperparameters["modelType"], hyperparameters.get("timezone", DEFAULT_TZ)
    backtest = fit(part, kind, tz)
    return (
        fit(series, kind, tz).to_json(),
        backtest.to_json(),
        evaluate(backtest, held, part).to_json(),
    )


def main(root: str = "/opt/ml") -> int:
    base = Path(root)
    try:
        hp = json.loads((base / "input/config/hyperparameters.json").read_text())
        text = "".join(
            p.read_text() if i == 0 else p.read_text().split("\n", 1)[1]
            for i, p in enumerate(sorted((base / "input/data/train").glob("*.csv")))
        )
        model, backtest, metrics = train(text, hp)
    except Exception as exc:  # SageMaker reads the reason from this file
        (base / "output").mkdir(parents=True, exist_ok=True)
        (base / "output/failure").write_text(f"{type(exc).__name__}: {exc}")
        print(f"training failed: {exc}", file=sys.stderr)
        return 1
    (base / "model").mkdir(parents=True, exist_ok=True)
    (base / "model/model.json").write_text(json.dumps(model, sort_keys=True))
    (base / "model/backtest.json").write_text(json.dumps(backtest, sort_keys=True))
    print(f"holdout:mape={metrics['mape']};holdout:rmse={metrics['rmse']};")
    return 0


if __name__ == "__main__":
    sys.exit(main())
