"""The data domain's world (`freeze_ingestion`, `partial_data`): the ingestion it freezes
and surveys (`ingestion.py`) and its scenes (`scenes.py`)."""

from .ingestion import DataSpec, DataWorld, IngestionSpec, TimeSeriesSpec, ingestion_keys
from .scenes import SCENES

__all__ = [
    "SCENES",
    "DataSpec",
    "DataWorld",
    "IngestionSpec",
    "TimeSeriesSpec",
    "ingestion_keys",
]
