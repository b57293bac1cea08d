"""The data domain (`state_machines/domains/data.json`): freezing ingestion on suspected
corruption (runbook 001 D3) and listing silent sources on partial data (runbook 004 M3)."""

#: Modules other domains may import, each with why (tests/contract/test_layer_imports.py).
OFFERED: dict[str, str] = {
    "ingestion_store": (
        "scope_buckets: the maintenance window (platform, runbook 001 D7) backs up the same "
        "tagged processed bucket the freeze snapshots, found the same way"
    ),
}
