"""Closing an edge incident when the edge is back (runbook 000 §1), whoever sees it first:
the ingress at the reconnect, or the ladder's own Close. However the ladder ended (fixed,
failed, unresolved, waiting out a silence), the reconnect closes `edge-incident#<edge>`
with downtime and data gap, so the next outage opens a new incident.

The close is one conditional write (open → closed, for this incident), so two closers
never both record or notify."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from ..core import audit, clock, config, notify, page_chain
from ..core.clients import client
from ..core.config import settings
from . import edge_registry, edges

CLOSED_ACTION = "edge_incident_closed"


def _gap(record: dict[str, Any], edge: dict[str, Any]) -> dict[str, Any]:
    back_at = datetime.fromisoformat(edge.get("since") or clock.now().isoformat())
    return edges.data_gap(
        datetime.fromisoformat(str(record["offlineSince"])),
        back_at,
        interval_seconds=float(config.env("SELFHEAL_TELEMETRY_INTERVAL_SECONDS", "5")),
        buffered=int(edge.get("bufferedSamples", 0) or 0),
    )


def silenced(record: dict[str, Any]) -> bool:
    """The outage was left alone under a silence that has not ended into a resumed ladder."""
    return bool(record.get("silencedUntil")) and not record.get("resumedAt")


def close_on_return(
    edge_id: str,
    *,
    actor: str,
    execution: str,
    resolved_by: str,
    incident_id: str | None = None,
    outcome: str | None = None,
    what_fixed_it: str | None = None,
) -> dict[str, Any] | None:
    """Close the edge's open incident (only `incident_id`'s, when given) now that the edge is
    online; record it and tell ops and everyone paged. None when there was nothing open to
    close (already closed by the other closer, or no incident). The ladder's close says
    whether selfheal fixed it (`outcome`, `what_fixed_it`); the ingress does not know."""
    pk = f"edge-incident#{edge_id}"
    record = edge_registry.get(pk)
    if not record or record.get("status") != "open":
        return None
    if incident_id is not None and record.get("incidentId") != incident_id:
        return None
    gap = _gap(record, edge_registry.get(f"edge#{edge_id}") or {})
    fields = {"status": "closed", "closedAt": clock.now().isoformat(), **gap}
    try:
        client("dynamodb").update_item(
            TableName=settings().guard_table,
            Key={"pk": {"S": pk}},
            UpdateExpression="SET " + ", ".join(f"#{k} = :{k}" for k in fields),
            ConditionExpression="#status = :open AND incidentId = :incident",
            ExpressionAttributeNames={f"#{k}": k for k in fields},
            ExpressionAttributeValues={
                **{f":{k}": {"S": str(v)} for k, v in fields.items()},
                ":open": {"S": "open"},
                ":incident": {"S": str(record["incidentId"])},
            },
        )
    except ClientError as exc:
        if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
            raise
        return None
    quiet = silenced(record)
    down = f"down {gap['downtimeMinutes']} min, {gap['samplesLost']} samples lost"
    audit.record(
        incident_id=str(record["incidentId"]),
        execution=execution,
        action=CLOSED_ACTION,
        actor=actor,
        why=f"{edge_id} reconnected ({resolved_by})",
        result=(
            f"closed: {down}; back during a silence, no action was taken"
            if quiet
            else f"closed: {down}" + (f"; {what_fixed_it}" if what_fixed_it else "")
        ),
        details=gap,
    )
    subject = (
        f"[selfheal] {edge_id} back online after {gap['downtimeMinutes']} min "
        "(silenced: no action taken)"
        if quiet
        else f"[selfheal] RESOLVED {edge_id} back after {gap['downtimeMinutes']} min"
        + (f" ({outcome})" if outcome else "")
    )
    body = {
        "incidentId": record["incidentId"],
        "edgeId": edge_id,
        "silenced": quiet,
        **({"outcome": outcome, "whatFixedIt": what_fixed_it} if outcome else {}),
        **gap,
    }
    # Ops hear of every close; each level the incident's page chain paged gets one resolve.
    notify.publish("ops", subject=subject, message=body)
    page_chain.close(record["incidentId"], subject=subject, message=body)
    return {"incidentId": record["incidentId"], "silenced": quiet, **gap}


def closure(incident_id: str) -> dict[str, Any] | None:
    """The downtime and data gap recorded when the incident was closed, if it was."""
    for rec in reversed(audit.history(incident_id)):
        if rec["action"] == CLOSED_ACTION:
            return dict(rec["details"])
    return None
