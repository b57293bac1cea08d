"""The deploy domain (`state_machines/domains/deploy.json`): the 5xx rollback of runbook
001 D1 (which function an alarm is about, its deployment, its flags, known-bad versions)."""

#: Modules other domains may import, each with why (tests/contract/test_layer_imports.py).
OFFERED: dict[str, str] = {}
