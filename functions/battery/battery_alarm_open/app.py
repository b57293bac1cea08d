"""Open a battery alarm incident of a kind with no procedure of its own (runbook 000 §5
"Registrar ocorrência no sistema"): record it with its severity and its response deadline
(§6), in the site's time zone for a P4 ("Próximo dia útil", national holidays skipped). A
cell failure's cells are read and recorded (fresh readings only)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError
from selfheal_shared.battery import cell_failure
from selfheal_shared.battery.battery_alarm import AUTOMATION, RESPONSE_TEXT, AlarmDetail
from selfheal_shared.battery.incident import open_incident
from selfheal_shared.core import clock, severity
from selfheal_shared.core.clients import client
from selfheal_shared.core.handler import remediator
from selfheal_shared.edge import edge_registry


def site_time_zone(edge_id: str) -> str:
    """The `timezone` attribute of the edge's IoT thing (as the forced OTA reads it), else
    Brazil's official time."""
    try:
        attrs = client("iot").describe_thing(thingName=edge_id).get("attributes", {})
    except ClientError:
        return severity.DEFAULT_TZ
    return str(attrs.get("timezone") or severity.DEFAULT_TZ)


@remediator
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    run, alarm = open_incident(
        event,
        context,
        AlarmDetail,
        automation=AUTOMATION,
        actor="battery_alarm_open",
        what="battery alarm request",
    )
    inc = run.request
    tz = site_time_zone(inc.edgeId)
    due = severity.respond_by(inc.severity, datetime.fromisoformat(inc.raisedAt), tz)
    by = f"respond by {due.isoformat()} ({tz})"
    reason = alarm.reason
    run.record(
        "alarm_recorded",
        why=f"runbook 000 §6: {inc.severity} '{RESPONSE_TEXT[inc.severity]}'"
        + (f"; {reason}" if reason else ""),
        result=f"{inc.alarm} {inc.severity} on {inc.edgeId} raised at {inc.raisedAt}: {by}",
        details={"respondBy": due.isoformat(), "timeZone": tz},
    )
    if inc.alarm == cell_failure.KIND:
        cells = cell_failure.reading(edge_registry.get(f"edge#{inc.edgeId}") or {}, clock.now())
        run.record(
            "cells_read",
            why=f"{inc.severity} {inc.alarm}: the cells for the page (runbook 000 §5b 'Ver "
            "detalhes de células'); the runbook gives a cell failure no action",
            result=f"{inc.edgeId}: {cells['summary']}",
            details=cells,
        )
    ticket = (
        f"{inc.alarm} on {inc.edgeId} (site {inc.siteId}): P4, a ticket for the next business "
        f"day, {by}; nobody paged"
    )
    return {"incident": {**inc.model_dump(), "respondBy": due.isoformat(), "ticket": ticket}}
