"""Battery P1 incidents (runbook 000 §5): cell readings, the restart lock and the E-Stop
state that every command to a battery system must respect. Reads the edge registry only."""

from __future__ import annotations

import hashlib
from typing import Any

from . import edge_registry

#: Runbook 000 §5b: "Se delta > 200mV entre células: → Executar equalização".
IMBALANCE_LIMIT_MV = 200
#: Commands that would bring a stopped system back: refused under a restart lock (§5a "NÃO
#: religar até normalizar temperatura") and while an E-Stop is active (§5c).
RESTARTING = frozenset({"restart", "ota-rollback", "equalize"})


def cells(edge: dict[str, Any]) -> list[int]:
    """The last cell voltages (mV) the edge reported, [] when it never sent them."""
    text = str(edge.get("cellsMv") or "")
    return [int(v) for v in text.split(",") if v]


def delta_mv(values: list[int]) -> int:
    return max(values) - min(values) if len(values) >= 2 else 0


def lock_key(edge_id: str) -> str:
    return f"restart-lock#{edge_id}"


def blocker(edge_id: str) -> str | None:
    """Why no command may (re)start this system now, or None: a restart lock held (an
    over-temperature not yet normal) or an active E-Stop."""
    lock = edge_registry.get(lock_key(edge_id))
    if lock and lock.get("state") == "held":
        return f"restart lock held since {lock.get('since', '?')}: {lock.get('reason', '')}"
    edge = edge_registry.get(f"edge#{edge_id}") or {}
    if "EMERGENCY_STOP" in str(edge.get("alarms") or "").split(","):
        return "EMERGENCY_STOP active: never acted on without a human (runbook 000 §5c)"
    return None


def incident_id(automation: str, edge_id: str, raised_at: str) -> str:
    digest = hashlib.sha256(f"{edge_id}|{raised_at}".encode()).hexdigest()[:12]
    return f"{automation}-{edge_id}-{digest}"
