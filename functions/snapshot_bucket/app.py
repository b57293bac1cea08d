"""Copy the processed bucket into a dated backup prefix, GLACIER storage class.

One page of objects per call; the workflow loops on `continuationToken`, so a large
bucket never outlives a Lambda timeout. Copies, never moves: nothing is deleted.
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError
from pydantic import BaseModel, Field
from selfheal_shared import audit, clock, ingestion
from selfheal_shared.clients import client
from selfheal_shared.errors import Transient, is_transient
from selfheal_shared.handler import remediator
from selfheal_shared.models import parse
from selfheal_shared.observability import logger

PAGE = 200


class SnapshotRequest(BaseModel):
    incident: ingestion.FreezeIncident
    processedBucket: str = Field(min_length=3)
    backupBucket: str = Field(min_length=3)
    prefix: str | None = None
    continuationToken: str | None = None
    copied: int = 0


@remediator
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    req = parse(SnapshotRequest, event, "snapshot request")
    logger.set_correlation_id(req.incident.incidentId)
    prefix = req.prefix or ingestion.snapshot_prefix(
        req.incident.scope, req.incident.incidentId, clock.now().date()
    )
    s3 = client("s3")
    kwargs: dict[str, Any] = {"Bucket": req.processedBucket, "MaxKeys": PAGE}
    if req.continuationToken:
        kwargs["ContinuationToken"] = req.continuationToken
    page = s3.list_objects_v2(**kwargs)
    copied = req.copied
    try:
        for obj in page.get("Contents", []):
            s3.copy_object(
                Bucket=req.backupBucket,
                Key=prefix + obj["Key"],
                CopySource={"Bucket": req.processedBucket, "Key": obj["Key"]},
                StorageClass="GLACIER",
                MetadataDirective="COPY",
                TaggingDirective="COPY",
            )
            copied += 1
    except ClientError as exc:
        if is_transient(exc):
            raise Transient(f"S3 throttled the snapshot after {copied} objects: {exc}") from exc
        raise
    token = page.get("NextContinuationToken") if page.get("IsTruncated") else None
    if token is None:
        audit.record(
            incident_id=req.incident.incidentId,
            execution=req.incident.executionId,
            action="snapshot",
            actor="snapshot_bucket",
            why="back up before anything else",
            result=f"{copied} objects copied to s3://{req.backupBucket}/{prefix} (GLACIER)",
            inverse={"note": "none needed: a copy; the source is untouched"},
        )
    return {
        "prefix": prefix,
        "copied": copied,
        "continuationToken": token,
        "done": token is None,
        "processedBucket": req.processedBucket,
        "backupBucket": req.backupBucket,
    }
