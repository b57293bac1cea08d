"""Verify the snapshot object by object: every source key has a copy of the same size
and checksum (ETag, the MD5 of a single-part object) under the backup prefix."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field
from selfheal_shared.core import bucket_copy
from selfheal_shared.core.errors import ActionFailed
from selfheal_shared.core.protocol import Run, remediator
from selfheal_shared.data import ingestion


class VerifyRequest(BaseModel):
    incident: ingestion.FreezeIncident
    processedBucket: str = Field(min_length=3)
    backupBucket: str = Field(min_length=3)
    prefix: str = Field(min_length=1)


@remediator(
    VerifyRequest,
    actor="freeze_verify_snapshot",
    automation=ingestion.AUTOMATION,
    what="snapshot verification",
)
def handler(run: Run[VerifyRequest]) -> dict[str, Any]:
    req = run.request
    objects, missing, different = bucket_copy.compare(
        req.processedBucket, req.backupBucket, req.prefix
    )
    verified = objects - len(missing) - len(different)
    result = {
        "objects": objects,
        "verified": verified,
        "missing": missing[:50],
        "different": different[:50],
    }
    run.record(
        "verify_snapshot",
        why="a backup is only one when checked",
        result=f"{verified}/{objects} objects verified (size and checksum)",
        details=result,
    )
    if missing or different:
        raise ActionFailed(
            f"snapshot incomplete: {len(missing)} missing, {len(different)} different "
            f"(e.g. {(missing or different)[0]})"
        )
    return result
