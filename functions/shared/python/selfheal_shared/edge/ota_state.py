"""What a forced OTA reads about an edge (the adapter side of `ota`): its IoT thing, its
restart lock, its maintenance window setting and the firmware it reports."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from ..battery import battery
from ..core import clock
from ..core.clients import client
from . import edge_registry, ota


def window_key(edge_id: str) -> str:
    """The system's maintenance window setting (`{startHour, endHour}`, runbook 000 §2
    `PUT /systems/{systemId}/maintenance-window`); absent: the default 02:00-05:00."""
    return f"maintenance-window#{edge_id}"


def thing(edge_id: str) -> dict[str, Any] | None:
    """The edge's IoT thing (`thingArn`, `attributes`), None when it is not registered."""
    try:
        found = client("iot").describe_thing(thingName=edge_id)
    except ClientError as exc:
        if exc.response["Error"]["Code"] == "ResourceNotFoundException":
            return None
        raise
    return {"thingArn": found["thingArn"], "attributes": found.get("attributes", {})}


def edge_blockers(edge_id: str, edge: dict[str, Any], thing_info: dict[str, Any]) -> list[str]:
    """Every reason this edge may not be updated now, read again at each call."""
    setting = edge_registry.get(window_key(edge_id))
    attrs = thing_info.get("attributes", {})
    lock = battery.restart_lock(edge_id)
    try:
        window = ota.window_of(setting, attrs.get("timezone"))
    except ValueError as exc:
        return [f"{exc} (refused: its window cannot be checked)", *([lock] if lock else [])]
    return ota.blockers(edge, lock=lock, window=window, now=clock.now())


def reported_version(edge_id: str) -> str:
    """The firmware the edge itself last reported ('' when it never did)."""
    return str((edge_registry.get(f"edge#{edge_id}") or {}).get("firmwareVersion") or "")
