"""The api domain (`state_machines/domains/api.json`): the external mapper's fallback flag
(runbook 002 Q3, `mapper_mode`)."""

#: Modules other domains may import, each with why (tests/contract/test_layer_imports.py).
OFFERED: dict[str, str] = {}
