"""The platform domain (`state_machines/domains/platform.json`): the ONS data platform's
daily operations (runbook 001): cost hygiene (`cost_hygiene`), the daily security checks
(`security_checks`) and the planned maintenance window (`maintenance_window`)."""

#: Modules other domains may import, each with why (tests/contract/test_layer_imports.py).
OFFERED: dict[str, str] = {
    "maintenance_window": "the one calendar's scope (`calendar_scopes`): every runbook-001 "
    "acting remediator re-reads the planned window before each action",
}
