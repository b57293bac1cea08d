"""The reports domain (`state_machines/domains/reports.json`): the monthly fiscal report
(runbook 000 §4) and its PDF."""

#: Modules other domains may import, each with why (tests/contract/test_layer_imports.py).
OFFERED: dict[str, str] = {}
