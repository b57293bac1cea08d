"""Records of the last 24 h per source, rolling, against the same 24 h of the days before
(runbook 001: verify integrity, `range(start: -24h)`), so the people at the gate see which
sources look wrong."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field
from selfheal_shared.core import clock
from selfheal_shared.core.protocol import Run, remediator
from selfheal_shared.data import ingestion
from selfheal_shared.data.ingestion_store import recent_keys

HISTORY_DAYS = 7


class IntegrityRequest(BaseModel):
    incident: ingestion.FreezeIncident
    processedBucket: str = Field(min_length=3)


@remediator(
    IntegrityRequest,
    actor="freeze_integrity_check",
    automation=ingestion.AUTOMATION,
    what="integrity check",
)
def handler(run: Run[IntegrityRequest]) -> dict[str, Any]:
    req = run.request
    now = clock.now()
    keys = recent_keys(req.processedBucket, now, HISTORY_DAYS)
    report = ingestion.integrity_report(
        ingestion.hourly_counts(keys), now, history_days=HISTORY_DAYS
    )
    report["unplaced"] = ingestion.unplaced(keys)
    window = report["window"]
    run.record(
        "integrity_check",
        why=f"records from {window['start']} to {window['end']} (the last 24 h) by source, "
        f"against the same 24 h of the previous {HISTORY_DAYS} days",
        result=f"{len(report['suspicious'])} suspicious sources: "
        f"{', '.join(report['suspicious']) or 'none'}",
        details=report,
    )
    return report
