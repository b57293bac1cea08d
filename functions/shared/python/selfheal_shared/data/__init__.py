"""The data domain (`state_machines/domains/data.json`): freezing ingestion on suspected
corruption (runbook 001 D3) and listing silent sources on partial data (runbook 004 M3)."""

#: Modules other domains may import, each with why (tests/contract/test_layer_imports.py).
OFFERED: dict[str, str] = {}
