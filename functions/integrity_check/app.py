"""Records of the last 24 h per source against the days before (runbook 001: verify
integrity), so the people at the gate see which sources look wrong."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from pydantic import BaseModel, Field
from selfheal_shared import clock, ingestion
from selfheal_shared.clients import client
from selfheal_shared.protocol import Run, remediator

HISTORY_DAYS = 7


class IntegrityRequest(BaseModel):
    incident: ingestion.FreezeIncident
    processedBucket: str = Field(min_length=3)


@remediator(
    IntegrityRequest,
    actor="integrity_check",
    automation=ingestion.AUTOMATION,
    what="integrity check",
)
def handler(run: Run[IntegrityRequest]) -> dict[str, Any]:
    req = run.request
    today = clock.now().date()
    keys: list[str] = []
    s3 = client("s3")
    # Only the days compared are listed, per source prefix, not the whole bucket.
    sources = [
        p["Prefix"].rstrip("/")
        for page in s3.get_paginator("list_objects_v2").paginate(
            Bucket=req.processedBucket, Delimiter="/"
        )
        for p in page.get("CommonPrefixes", [])
    ]
    for source in sources:
        for n in range(HISTORY_DAYS + 1):
            day = today - timedelta(days=n)
            prefix = f"{source}/{day:%Y/%m/%d}/"
            for page in s3.get_paginator("list_objects_v2").paginate(
                Bucket=req.processedBucket, Prefix=prefix
            ):
                keys += [o["Key"] for o in page.get("Contents", [])]
    report = ingestion.integrity_report(
        ingestion.daily_counts(keys), today, history_days=HISTORY_DAYS
    )
    run.record(
        "integrity_check",
        why="records in the last 24 h by source",
        result=f"{len(report['suspicious'])} suspicious sources: "
        f"{', '.join(report['suspicious']) or 'none'}",
        details=report,
    )
    return report
