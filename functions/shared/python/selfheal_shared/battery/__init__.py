"""The battery domain (`state_machines/domains/battery.json`): the battery P1 incidents of
runbook 000 §5 (cell imbalance, over-temperature, E-Stop) and the generic battery alarm
response, with CloudWatch battery alarms turned into the edge's own alarm signal."""

#: Modules other domains may import, each with why (tests/contract/test_layer_imports.py).
OFFERED: dict[str, str] = {
    "battery": (
        "the restart lock and the E-Stop that every command to a battery system must respect "
        "(runbook 000 §5a/§5c): the edge ladder's commands and the forced OTA check them"
    ),
}
