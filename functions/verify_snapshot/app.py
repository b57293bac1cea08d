"""Verify the snapshot object by object: every source key has a copy of the same size
and checksum (ETag, the MD5 of a single-part object) under the backup prefix."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field
from selfheal_shared import audit, ingestion
from selfheal_shared.clients import client
from selfheal_shared.errors import ActionFailed
from selfheal_shared.handler import remediator
from selfheal_shared.models import parse
from selfheal_shared.observability import logger


class VerifyRequest(BaseModel):
    incident: ingestion.FreezeIncident
    processedBucket: str = Field(min_length=3)
    backupBucket: str = Field(min_length=3)
    prefix: str = Field(min_length=1)


def _listing(bucket: str, prefix: str = "") -> dict[str, tuple[int, str]]:
    out = {}
    for page in (
        client("s3").get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
    ):
        for obj in page.get("Contents", []):
            out[obj["Key"][len(prefix) :]] = (obj["Size"], obj["ETag"])
    return out


@remediator
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    req = parse(VerifyRequest, event, "snapshot verification")
    logger.set_correlation_id(req.incident.incidentId)
    source = _listing(req.processedBucket)
    copy = _listing(req.backupBucket, req.prefix)
    missing = sorted(k for k in source if k not in copy)
    different = sorted(k for k in source if k in copy and copy[k] != source[k])
    verified = len(source) - len(missing) - len(different)
    result = {
        "objects": len(source),
        "verified": verified,
        "missing": missing[:50],
        "different": different[:50],
    }
    audit.record(
        incident_id=req.incident.incidentId,
        execution=req.incident.executionId,
        action="verify_snapshot",
        actor="verify_snapshot",
        why="a backup is only one when checked",
        result=f"{verified}/{len(source)} objects verified (size and checksum)",
        details=result,
    )
    if missing or different:
        raise ActionFailed(
            f"snapshot incomplete: {len(missing)} missing, {len(different)} different "
            f"(e.g. {(missing or different)[0]})"
        )
    return result
