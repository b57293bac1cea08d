"""Back up the processed bucket into a dated prefix of the backup bucket before the
maintenance (runbook 001: `aws s3 sync s3://<processed> s3://<...>-maintenance-backup-
<YYYYMMDD>`), one page of objects per call (the workflow loops on `continuationToken`), and
on the last page verify the copy object by object (size and checksum).

STANDARD storage class, unlike the freeze's GLACIER snapshot: this backup is what a failed
maintenance is rolled back from within the hour, not an archive."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field
from selfheal_shared.core import bucket_copy
from selfheal_shared.core.clients import client
from selfheal_shared.core.errors import ActionFailed
from selfheal_shared.core.protocol import Run, remediator
from selfheal_shared.platform import maintenance_window as mw

PAGE = 200


class BackupRequest(BaseModel):
    incident: mw.Window
    processedBucket: str = Field(min_length=3)
    backupBucket: str = Field(min_length=3)
    continuationToken: str | None = None
    copied: int = 0


def prefix(w: mw.Window) -> str:
    """`maintenance-backup/<YYYYMMDD>/<incident>/`: dated by the window's start (UTC)."""
    return f"maintenance-backup/{w.startsAt[:10].replace('-', '')}/{w.incidentId}/"


@remediator(BackupRequest, actor="maintenance_window_backup", automation=mw.AUTOMATION,
            what="maintenance backup")  # fmt: skip
def handler(run: Run[BackupRequest]) -> dict[str, Any]:
    req = run.request
    where = prefix(req.incident)
    s3 = client("s3")
    kwargs: dict[str, Any] = {"Bucket": req.processedBucket, "MaxKeys": PAGE}
    if req.continuationToken:
        kwargs["ContinuationToken"] = req.continuationToken
    page = s3.list_objects_v2(**kwargs)
    objects = page.get("Contents", [])
    target = f"s3://{req.backupBucket}/{where}"

    def copy_page(_key: str) -> int:
        return bucket_copy.copy_objects(
            objects,
            source=req.processedBucket,
            target=req.backupBucket,
            prefix=where,
            copied_before=req.copied,
        )

    copied = req.copied + run.act(
        "backup",
        target=f"s3://{req.processedBucket}",
        why=f"runbook 001: back up before the maintenance ({req.incident.reason})",
        step=f"page after {kwargs.get('ContinuationToken', '')}",
        plan=f"copy {len(objects)} objects of s3://{req.processedBucket} to {target}",
        do=copy_page,
        # A copy to the same key is the same copy; the last page verifies every object.
        landed=lambda _key: None,
        result=lambda n: f"{n} objects copied to {target}",
        inverse={"note": "none needed: a copy; the source is untouched"},
    )
    token = page.get("NextContinuationToken") if page.get("IsTruncated") else None
    out = {
        "copied": copied,
        "continuationToken": token,
        "done": token is None,
        "prefix": where,
        "processedBucket": req.processedBucket,
        "backupBucket": req.backupBucket,
    }
    if token is None:
        out["verified"] = _verify(run, req, where)
    return out


def _verify(run: Run[BackupRequest], req: BackupRequest, where: str) -> int:
    """Every source object has a copy of the same size and checksum: a backup is only one
    when checked."""
    objects, missing, different = bucket_copy.compare(req.processedBucket, req.backupBucket, where)
    verified = objects - len(missing) - len(different)
    run.record(
        "verify_backup",
        why="a backup is only one when checked",
        result=f"{verified}/{objects} objects verified in s3://{req.backupBucket}/{where} "
        "(size and checksum)",
        details={"missing": missing[:50], "different": different[:50]},
    )
    if missing or different:
        raise ActionFailed(
            f"backup incomplete: {len(missing)} missing, {len(different)} different "
            f"(e.g. {(missing or different)[0]}); the maintenance mode was not turned on"
        )
    return verified
