"""IoT Core → domain events. Called by the IoT topic rules (status, telemetry, acks,
presence) and every minute by a schedule (`{"sweep": true}`) to find silent edges.

Bad input never reaches a workflow: it is audited for inspection and raised, so the
IoT rule's error action keeps the message in its dead-letter queue."""

from __future__ import annotations

import json
from typing import Any

from selfheal_shared.core import audit, clock
from selfheal_shared.core.errors import InputInvalid
from selfheal_shared.core.handler import remediator
from selfheal_shared.core.observability import logger
from selfheal_shared.edge import edge_incidents, edge_registry, edges


def _message(event: dict[str, Any]) -> dict[str, Any]:
    """The bridge sends {topic, payload}; an IoT rule `SELECT *, topic() AS topic` sends
    the payload's fields with `topic` beside them."""
    if "payload" in event:
        return event
    return {
        "topic": event.get("topic"),
        "payload": {k: v for k, v in event.items() if k != "topic"},
    }


@remediator
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    if event.get("sweep") is True:
        out = edge_registry.sweep()
    else:
        try:
            signal = edges.parse_signal(_message(event))
        except InputInvalid as exc:
            _keep("ingress_rejected", str(exc), "rejected; no action taken", event)
            logger.warning("rejected edge message", extra={"error": str(exc)})
            raise
        if signal.invalid:
            _keep(
                "ingress_partial",
                "invalid optional field(s): " + "; ".join(signal.invalid),
                f"{signal.payload.get('status', signal.kind)} kept; invalid field(s) dropped",
                event,
            )
        out = edge_registry.record_signal(signal)
    if out:
        edge_registry.publish(out)
    for e in out:
        if e["Detail"].get("state") == "online":
            # The edge is back: its incident closes now, whatever its ladder is doing or
            # however it ended, so the next outage is a new incident.
            edge_incidents.close_on_return(
                str(e["Detail"]["edgeId"]),
                actor="edge_ingress",
                execution="iot-rule",
                resolved_by=str(e["Detail"].get("reason", "reconnected")),
            )
    return {"events": [{"type": e["DetailType"], **e["Detail"]} for e in out]}


def _sample(event: dict[str, Any]) -> str:
    """An excerpt of the message to keep; never fails, whatever the message is."""
    raw = event.get("payload", event)
    if isinstance(raw, str):
        return raw[:512]
    try:
        return json.dumps(event, default=str)[:512]
    except (ValueError, RecursionError):
        return repr(type(raw))


def _keep(action: str, why: str, result: str, event: dict[str, Any]) -> None:
    """Bad input is kept for inspection with the reason (the IoT rule's error action also
    keeps the whole message in its dead-letter queue)."""
    audit.record(
        incident_id=f"edge-ingress-rejected-{clock.now().date().isoformat()}",
        execution="iot-rule",
        action=action,
        actor="edge_ingress",
        why=why,
        result=result,
        details={"topic": str(event.get("topic", ""))[:200], "sample": _sample(event)},
    )
