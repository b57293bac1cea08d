"""Write the freeze manifest: exactly what was stopped, so a resume turns on that and
nothing more. It is an audit record (append-only), and the lock points at it."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel
from selfheal_shared.core import clock
from selfheal_shared.core.clients import client
from selfheal_shared.core.config import settings
from selfheal_shared.core.protocol import Run, remediator
from selfheal_shared.data import ingestion


class ManifestRequest(BaseModel):
    incident: ingestion.FreezeIncident
    progress: dict[str, Any]
    snapshot: dict[str, Any]
    verification: dict[str, Any]
    integrity: dict[str, Any]


@remediator(
    ManifestRequest,
    actor="freeze_manifest",
    automation=ingestion.AUTOMATION,
    what="freeze manifest",
)
def handler(run: Run[ManifestRequest]) -> dict[str, Any]:
    req = run.request
    inc = req.incident
    manifest = {
        "incidentId": inc.incidentId,
        "scope": inc.scope,
        "reason": inc.reason,
        "requestedBy": inc.requestedBy,
        "frozenAt": clock.now().isoformat(),
        "rules": req.progress["rules"]["items"],
        "executions": req.progress["executions"]["items"],
        "mappings": req.progress["mappings"]["items"],
        "snapshot": {
            "bucket": req.snapshot["backupBucket"],
            "prefix": req.snapshot["prefix"],
            "objects": req.verification["objects"],
            "verified": req.verification["verified"],
            "storageClass": "GLACIER",
        },
        "integrity": {
            "verified": req.integrity["verified"],
            "problem": req.integrity["problem"],
            "counted": req.integrity["counted"],
            "suspicious": req.integrity["suspicious"],
            "window": req.integrity["window"],
            "sources": req.integrity["sources"],
        },
    }
    record = run.record(
        "freeze_manifest",
        why=inc.reason,
        result=(
            f"frozen: {len(manifest['rules'])} rules, {len(manifest['executions'])} executions, "
            f"{len(manifest['mappings'])} mappings; "
            f"snapshot {manifest['snapshot']['objects']} objects"
        ),
        details=manifest,
    )
    client("dynamodb").update_item(
        TableName=settings().guard_table,
        Key={"pk": {"S": f"frozen#{inc.scope}"}},
        UpdateExpression="SET #s = :s, manifestSeq = :m",
        ConditionExpression="incidentId = :i",
        ExpressionAttributeNames={"#s": "status"},
        ExpressionAttributeValues={
            ":s": {"S": "frozen"},
            ":m": {"S": record["seq"]},
            ":i": {"S": inc.incidentId},
        },
    )
    return {"manifestSeq": record["seq"], **manifest}
