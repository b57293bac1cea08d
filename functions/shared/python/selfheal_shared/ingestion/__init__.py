"""The ingestion domain (`state_machines/domains/ingestion.json`): one MQTT ingestion
instance in production at a time, by a fenced lease (runbook 004 M2/M4)."""

#: Modules other domains may import, each with why (tests/contract/test_layer_imports.py).
OFFERED: dict[str, str] = {
    "ingestion_instances": (
        "the registered instances and how to read their health: the service probe (services) "
        "publishes each instance's InstanceHealthy metric, which the failover's alarm watches"
    ),
}
