"""The generic battery alarm response (runbook 000 §5 "Registrar ocorrência", §6 "Níveis de
severidade"): alarm kinds with no procedure of their own (cell failure, SOC crítico, latência
alta, MQTT instável, warning de manutenção) are recorded and people are paged on their
severity's clock; a P4 is a ticket to ops for the next business day, not a page. A cell
failure's pages carry the cells' fresh readings (`cell_failure`)."""

from __future__ import annotations

from pydantic import Field

from .incident import BatteryAlarm

AUTOMATION = "battery_alarm"
#: Kinds routed here: every kind of `edges.AlarmPayload` without its own workflow.
KINDS = ("CELL_FAILURE", "SOC_CRITICAL", "HIGH_LATENCY", "MQTT_UNSTABLE", "MAINTENANCE_WARNING")
#: Runbook 000 §6, "Resposta" of each level, quoted in what is recorded.
RESPONSE_TEXT = {"P1": "< 15 min", "P2": "< 1h", "P3": "< 4h", "P4": "Próximo dia útil"}


class AlarmDetail(BatteryAlarm):
    alarm: str = Field(pattern="^(" + "|".join(KINDS) + ")$")
    reason: str = Field(default="", max_length=300)
