"""Send an organization its report: a time-limited download link per stored version, on the
`reports` topic with the organizationId attribute its subscriptions filter on."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from pydantic import BaseModel, Field
from selfheal_shared.core import clock
from selfheal_shared.core.clients import client
from selfheal_shared.core.config import settings
from selfheal_shared.core.outcomes import Outcome
from selfheal_shared.core.protocol import Run, remediator
from selfheal_shared.reports import fiscal

#: A presigned link lives at most as long as the signing role's session; re-running the
#: same org and period returns the same object with a fresh link.
LINK_SECONDS = 6 * 3600


class StoredObject(BaseModel):
    format: str
    key: str
    versionId: str | None = None
    changed: bool


class DeliverRequest(BaseModel):
    organizationId: str = Field(pattern=fiscal.ORG_PATTERN)
    period: str
    objects: list[StoredObject] = Field(min_length=1)
    incidentId: str = Field(min_length=1)
    executionId: str = Field(min_length=1)


def presigner() -> Any:
    """SigV4 links (the legacy query signature is what boto3 would pick for some regions)."""
    from selfheal_shared.core import clients

    return clients.client("s3", signature_version="s3v4")


@remediator(
    DeliverRequest,
    actor="fiscal_deliver",
    automation=fiscal.AUTOMATION,
    what="report delivery",
)
def handler(run: Run[DeliverRequest]) -> dict[str, Any]:
    req = run.request
    bucket = settings().bucket("reports")
    expires = clock.now() + timedelta(seconds=LINK_SECONDS)
    downloads = []
    for obj in req.objects:
        params: dict[str, Any] = {"Bucket": bucket, "Key": obj.key}
        if obj.versionId:
            params["VersionId"] = obj.versionId
        url = presigner().generate_presigned_url(
            "get_object", Params=params, ExpiresIn=LINK_SECONDS
        )
        downloads.append(
            {
                "format": obj.format,
                "url": url,
                "versionId": obj.versionId,
                "expiresAt": expires.isoformat(),
            }
        )
    client("sns").publish(
        TopicArn=settings().topic("reports"),
        Subject=f"Relatorio fiscal {req.period} disponivel"[:99],
        Message=notify_body(req, downloads),
        MessageAttributes={
            "organizationId": {"DataType": "String", "StringValue": req.organizationId}
        },
    )
    changed = [o.format for o in req.objects if o.changed]
    run.record(
        "deliver_report",
        why=f"fiscal report of {req.organizationId} for {req.period}",
        result=f"sent {len(downloads)} link(s) valid until {expires.isoformat()}"
        + (f"; new: {', '.join(changed)}" if changed else "; unchanged since the last run"),
        outcome=Outcome.FIXED,
    )
    return {
        "outcome": Outcome.FIXED,
        "item": req.organizationId,
        "formats": [o.format for o in req.objects],
        "expiresAt": expires.isoformat(),
    }


def notify_body(req: DeliverRequest, downloads: list[dict[str, Any]]) -> str:
    import json

    return json.dumps(
        {
            "at": clock.now().isoformat(),
            "seq": clock.sequence(),
            "organizationId": req.organizationId,
            "period": req.period,
            "message": f"O relatorio fiscal de {req.period} esta disponivel.",
            "downloads": downloads,
        },
        sort_keys=True,
    )
