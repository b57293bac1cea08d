"""The platform domain (`state_machines/domains/platform.json`): the ONS data platform's own
operations (runbook 001): the planned maintenance window (D7)."""

#: Modules other domains may import, each with why (tests/contract/test_layer_imports.py).
OFFERED: dict[str, str] = {}
