"""List the silent sources of a scope (runbook 004 "Verificar quais equipamentos estão
enviando dados") from its processed bucket, read only. Nothing is changed: reloading the
subscriptions is not automated here, and the summary says so."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel
from selfheal_shared import clock, ingestion
from selfheal_shared.ingestion_store import processed_bucket, recent_keys
from selfheal_shared.protocol import Run, remediator

HISTORY_DAYS = 7
NOT_DONE = (
    "subscriptions NOT reloaded: the reload (runbook 004 'Recarregar tópicos MQTT') is not "
    "automated; nothing was changed"
)


class SurveyRequest(BaseModel):
    incident: ingestion.FreezeIncident


def summary(scope: str, report: dict[str, Any], alarm: str) -> str:
    silent = report["silent"]
    if silent:
        listed = ", ".join(
            f"{s['source']} (nothing since {s['lastRecordBefore']}, {s['silentForHours']:g} h)"
            for s in silent
        )
        return (
            f"{scope}: {len(silent)} of {report['expected']} sources silent: {listed}; "
            f"{NOT_DONE}; check these sources' equipment and network and the broker's "
            f"subscriptions ({alarm})"
        )
    return (
        f"{scope}: no source silent (all {report['expected']} sent within their usual gap); "
        f"the drop is not silence: check the data quality (runbook 004 'Verificar qualidade "
        f"dos dados'); {NOT_DONE} ({alarm})"
    )


@remediator(
    SurveyRequest,
    actor="partial_data_survey",
    automation=ingestion.PARTIAL_DATA,
    what="partial-data incident",
)
def handler(run: Run[SurveyRequest]) -> dict[str, Any]:
    inc = run.request.incident
    now = clock.now()
    bucket = processed_bucket(inc.scope)
    report = ingestion.silence_report(
        ingestion.hourly_counts(recent_keys(bucket, now, HISTORY_DAYS)),
        now,
        history_days=HISTORY_DAYS,
    )
    report["summary"] = summary(inc.scope, report, inc.reason)
    names = ", ".join(s["source"] for s in report["silent"]) or "none"
    run.record(
        "list_silent_sources",
        why=f"{inc.reason}; which sources send data (runbook 004)",
        result=f"{report['silentCount']} of {report['expected']} sources silent in "
        f"s3://{bucket}: {names}",
        details=report,
    )
    return report
