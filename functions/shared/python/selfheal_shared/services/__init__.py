"""The services domain (`state_machines/domains/services.json`): the described services
(`<name>.json` here, validated by `service_spec`), their checks and restarts
(runbooks 002-004) and the probe that publishes their alarms' metrics."""

#: Modules other domains may import, each with why (tests/contract/test_layer_imports.py).
OFFERED: dict[str, str] = {
    "service_spec": (
        "the described services: partial data (data) reads the ingestion service that "
        "subscribes a scope instead of the scope's bucket"
    ),
    "service_ops": (
        "reading a described service (its health endpoints): partial data (data) asks the "
        "ingestion service for its subscribed topics and silent equipment"
    ),
    "service_recovery": (
        "the service incident and its escalation ladder counted from the incident's start "
        "(runbook 004 'Escalação'): partial data (data) reloads through the recovery and "
        "pages on the same ladder"
    ),
}
