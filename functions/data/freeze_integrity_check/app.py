"""Records of the last 24 h per source in the scope's time-series store, rolling, against
the same 24 h of the days before, so the people at the gate see which sources look wrong
(runbook 001 "Verificar integridade dos dados": `range(start: -24h) |> count()`).

When the records cannot be counted (no store registered, no secret, the store down or
refusing), the check says "cannot verify" instead of guessing: the workflow pages it, the
scope stays frozen, and a resume must acknowledge that nothing was verified."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel
from selfheal_shared.core import clock
from selfheal_shared.core.protocol import Run, remediator
from selfheal_shared.data import ingestion, records
from selfheal_shared.data.records_store import StoreUnavailable, count_records

HISTORY_DAYS = 7


class IntegrityRequest(BaseModel):
    incident: ingestion.FreezeIncident


@remediator(
    IntegrityRequest,
    actor="freeze_integrity_check",
    automation=ingestion.AUTOMATION,
    what="integrity check",
)
def handler(run: Run[IntegrityRequest]) -> dict[str, Any]:
    scope = run.request.incident.scope
    now = clock.now()
    try:
        cfg, spans, counts = count_records(scope, now, HISTORY_DAYS)
    except StoreUnavailable as exc:
        spans = records.windows(now, HISTORY_DAYS)
        report = ingestion.integrity_report({}, spans)
        problem = str(exc)
        run.record(
            "integrity_check",
            why=f"records per source in the time-series store of {scope}, last 24 h to "
            f"{now.isoformat()}: {problem}",
            result=f"cannot verify: no records were counted; {scope} stays frozen",
            details={**report, "verified": False, "problem": problem},
        )
        return {**report, "verified": False, "problem": problem, "counted": None}
    report = ingestion.integrity_report(counts, spans)
    window = report["window"]
    counted = (
        f"records (points with {cfg.field} in {cfg.measurement}) per {cfg.sourceTag} in "
        f"the time-series store"
    )
    run.record(
        "integrity_check",
        why=f"{counted} from {window['start']} to {window['end']} (the last 24 h), against "
        f"the same 24 h of the previous {HISTORY_DAYS} days",
        result=f"{sum(s['last24h'] for s in report['sources'])} records in the last 24 h; "
        f"{len(report['suspicious'])} suspicious sources: "
        f"{', '.join(report['suspicious']) or 'none'}",
        details={**report, "verified": True, "counted": counted, "database": cfg.database},
    )
    return {**report, "verified": True, "problem": "", "counted": counted}
