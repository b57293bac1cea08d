"""The ml domain's world (`retrain_model`): hourly load, the serving forecast model and its
accuracy alarm (`forecast.py`). SageMaker's training jobs are the runtime's stand-in
(`local/sagemaker_local.py`): a service of the account, not of the world."""

from .forecast import (
    ForecastSystem,
    ForecastWorld,
    LoadChange,
    MlSpec,
    MlWorld,
    ServingModel,
    alarm_name,
    history_end,
    load_series,
    publish_accuracy,
    serving_mape,
    write_load,
)

__all__ = [
    "ForecastSystem",
    "ForecastWorld",
    "LoadChange",
    "MlSpec",
    "MlWorld",
    "ServingModel",
    "alarm_name",
    "history_end",
    "load_series",
    "publish_accuracy",
    "serving_mape",
    "write_load",
]
