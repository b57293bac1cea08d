"""Copy the processed bucket into a dated backup prefix, GLACIER storage class.

One page of objects per call; the workflow loops on `continuationToken`, so a large
bucket never outlives a Lambda timeout. Copies, never moves: nothing is deleted.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field
from selfheal_shared.core import bucket_copy, clock
from selfheal_shared.core.clients import client
from selfheal_shared.core.protocol import Run, remediator
from selfheal_shared.data import ingestion
from selfheal_shared.platform import maintenance_window as mw

PAGE = 200


class SnapshotRequest(BaseModel):
    incident: ingestion.FreezeIncident
    processedBucket: str = Field(min_length=3)
    backupBucket: str = Field(min_length=3)
    prefix: str | None = None
    continuationToken: str | None = None
    copied: int = 0


@remediator(
    SnapshotRequest,
    actor="freeze_snapshot",
    automation=ingestion.AUTOMATION,
    what="snapshot",
    scopes=mw.calendar_scopes,
)
def handler(run: Run[SnapshotRequest]) -> dict[str, Any]:
    req = run.request
    prefix = req.prefix or ingestion.snapshot_prefix(
        req.incident.scope, req.incident.incidentId, clock.now().date()
    )
    s3 = client("s3")
    kwargs: dict[str, Any] = {"Bucket": req.processedBucket, "MaxKeys": PAGE}
    if req.continuationToken:
        kwargs["ContinuationToken"] = req.continuationToken
    page = s3.list_objects_v2(**kwargs)
    objects = page.get("Contents", [])
    target = f"s3://{req.backupBucket}/{prefix}"

    def copy_page(_key: str) -> int:
        return bucket_copy.copy_objects(
            objects,
            source=req.processedBucket,
            target=req.backupBucket,
            prefix=prefix,
            storage_class="GLACIER",
            copied_before=req.copied,
        )

    copied = req.copied + run.act(
        "snapshot",
        target=req.incident.scope,
        why="back up before anything else",
        step=f"page after {kwargs.get('ContinuationToken', '')}",
        plan=f"copy {len(objects)} objects of s3://{req.processedBucket} to {target} (GLACIER)",
        do=copy_page,
        # A copy to the same key is the same copy: an attempt that left no record copies
        # its page again (freeze_verify_snapshot checks every object afterwards).
        landed=lambda _key: None,
        result=lambda n: f"{n} objects copied to {target} (GLACIER)",
        inverse={"note": "none needed: a copy; the source is untouched"},
    )
    token = page.get("NextContinuationToken") if page.get("IsTruncated") else None
    return {
        "prefix": prefix,
        "copied": copied,
        "continuationToken": token,
        "done": token is None,
        "processedBucket": req.processedBucket,
        "backupBucket": req.backupBucket,
    }
