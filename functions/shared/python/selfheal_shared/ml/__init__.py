"""The ml domain (`state_machines/domains/ml.json`): forecast models, their accuracy alarm
(`forecast_alarm.json`), training and the model registry (runbook 000 §3)."""

#: Modules other domains may import, each with why (tests/contract/test_layer_imports.py).
OFFERED: dict[str, str] = {}
