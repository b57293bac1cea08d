"""The edge domain (`state_machines/domains/edge.json`): the edges (on-site controllers),
their registry and telemetry, the offline ladder (runbook 000 §1/§6), certificate renewal
and the forced OTA (runbook 000 §2)."""

#: Modules other domains may import, each with why (tests/contract/test_layer_imports.py).
OFFERED: dict[str, str] = {
    "edges": (
        "what an edge is and says (ids, telemetry, alarm payloads and signals): a battery "
        "system is an edge, and its alarms arrive as the edge's own"
    ),
    "edge_registry": (
        "the registry of edges and their last readings: the battery workflows read the cells, "
        "temperature, alarms and restart lock of the edge they act on"
    ),
}
