"""IoT Core → domain events. Called by the IoT topic rules (status, telemetry, acks,
presence) and every minute by a schedule (`{"sweep": true}`) to find silent edges.

Bad input never reaches a workflow: it is audited for inspection and raised, so the
IoT rule's error action keeps the message in its dead-letter queue."""

from __future__ import annotations

import json
from typing import Any

from selfheal_shared import audit, clock, edge_registry, edges
from selfheal_shared.clients import client
from selfheal_shared.errors import InputInvalid
from selfheal_shared.handler import remediator
from selfheal_shared.observability import logger


def _message(event: dict[str, Any]) -> dict[str, Any]:
    """The bridge sends {topic, payload}; an IoT rule `SELECT *, topic() AS topic` sends
    the payload's fields with `topic` beside them."""
    if "payload" in event:
        return event
    return {
        "topic": event.get("topic"),
        "payload": {k: v for k, v in event.items() if k != "topic"},
    }


def _publish(entries: list[dict[str, Any]]) -> None:
    events = client("events")
    for start in range(0, len(entries), 10):
        batch = [
            {**e, "EventBusName": edges.BUS, "Detail": json.dumps(e["Detail"])}
            for e in entries[start : start + 10]
        ]
        failed = events.put_events(Entries=batch).get("FailedEntryCount", 0)
        if failed:
            raise RuntimeError(f"EventBridge refused {failed} of {len(batch)} edge events")


@remediator
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    if event.get("sweep") is True:
        out = edge_registry.sweep()
    else:
        try:
            signal = edges.parse_signal(_message(event))
        except InputInvalid as exc:
            sample = json.dumps(event, default=str)[:512]
            day = clock.now().date().isoformat()
            audit.record(
                incident_id=f"edge-ingress-rejected-{day}",
                execution="iot-rule",
                action="ingress_rejected",
                actor="edge_ingress",
                why=str(exc),
                result="rejected; no action taken",
                details={"sample": sample},
            )
            logger.warning("rejected edge message", extra={"error": str(exc)})
            raise
        out = edge_registry.record_signal(signal)
    if out:
        _publish(out)
    return {"events": [{"type": e["DetailType"], **e["Detail"]} for e in out]}
