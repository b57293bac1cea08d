"""Compute one organization's monthly fiscal report and store it, PDF and/or CSV.

Re-running never replaces anything silently: each format has one key per org and period
in a versioned bucket; when the source digest (profile, transactions, NF-e) and the bytes
are unchanged the existing version is the answer, otherwise a new version is written and
the previous one stays retrievable.
"""

from __future__ import annotations

import hashlib
from typing import Any, Literal

from botocore.exceptions import ClientError
from pydantic import BaseModel, Field
from selfheal_shared.core import datalake, fanout
from selfheal_shared.core.clients import client
from selfheal_shared.core.config import settings
from selfheal_shared.core.models import parse
from selfheal_shared.core.outcomes import Outcome
from selfheal_shared.core.protocol import Run, remediator
from selfheal_shared.reports import fiscal

CONTENT_TYPE = {"pdf": "application/pdf", "csv": "text/csv; charset=utf-8"}


class RenderRequest(BaseModel):
    organizationId: str = Field(pattern=fiscal.ORG_PATTERN)
    period: str = Field(pattern=fiscal.PERIOD_PATTERN.pattern)
    formats: list[Literal["pdf", "csv"]] = Field(min_length=1)
    runId: str = Field(min_length=1)
    incidentId: str = Field(min_length=1)
    executionId: str = Field(min_length=1)


def _current(bucket: str, key: str) -> dict[str, Any] | None:
    try:
        return client("s3").head_object(Bucket=bucket, Key=key)  # type: ignore[no-any-return]
    except ClientError as exc:
        if exc.response["Error"]["Code"] in ("404", "NoSuchKey", "NotFound"):
            return None
        raise


def store(key: str, body: bytes, fmt: str, digest: str, req: RenderRequest) -> dict[str, Any]:
    bucket = settings().bucket("reports")
    sha = hashlib.sha256(body).hexdigest()
    head = _current(bucket, key)
    meta = (head or {}).get("Metadata", {})
    if head and meta.get("source-digest") == digest and meta.get("content-sha256") == sha:
        return {
            "format": fmt,
            "key": key,
            "versionId": head.get("VersionId"),
            "changed": False,
            "previousVersionId": None,
            "sha256": sha,
        }
    put = client("s3").put_object(
        Bucket=bucket,
        Key=key,
        Body=body,
        ContentType=CONTENT_TYPE[fmt],
        ServerSideEncryption="AES256",
        Metadata={
            "source-digest": digest,
            "content-sha256": sha,
            "organization": req.organizationId,
            "period": req.period,
            "execution": req.executionId.rsplit(":", 1)[-1],
        },
    )
    return {
        "format": fmt,
        "key": key,
        "versionId": put.get("VersionId"),
        "changed": True,
        "previousVersionId": (head or {}).get("VersionId"),
        "sha256": sha,
    }


@remediator(
    RenderRequest,
    actor="fiscal_render",
    automation=fiscal.AUTOMATION,
    what="fiscal report request",
)
def handler(run: Run[RenderRequest]) -> dict[str, Any]:
    req = run.request
    org = req.organizationId
    proceed, why = fanout.may_proceed(req.runId)
    if not proceed:
        run.record(
            "fiscal_render",
            why=why,
            result=f"{org}: not attempted",
            outcome=Outcome.SKIPPED_BY_GUARD,
        )
        return {"outcome": Outcome.SKIPPED_BY_GUARD, "item": org, "reason": why}
    profile_raw = datalake.read(datalake.profile_key(org))
    profile = parse(
        fiscal.OrgProfile,
        datalake.read_json(datalake.profile_key(org)),
        f"organization profile {datalake.profile_key(org)}",
    )
    tx = datalake.read(datalake.transactions_key(org, req.period))
    nfe = datalake.read(datalake.invoices_key(org, req.period))
    invoices = [
        parse(fiscal.Invoice, i, f"NF-e of {org} {req.period}")
        for i in datalake.read_json(datalake.invoices_key(org, req.period))
    ]
    digest = fiscal.source_digest(profile_raw, tx, nfe)
    report = fiscal.build_report(
        profile, req.period, fiscal.parse_intervals(tx.decode()), invoices, digest
    )
    objects = []
    for fmt in req.formats:
        if fmt == "pdf":
            from selfheal_shared.reports.fiscal_pdf import render_pdf

            body = render_pdf(report)
        else:
            body = fiscal.render_csv(report)
        obj = store(fiscal.report_key(org, req.period, fmt), body, fmt, digest, req)
        objects.append(obj)
        run.record(
            "store_report",
            why=f"fiscal report of {org} for {req.period} (source {digest[:12]})",
            result=(
                f"{obj['key']} version {obj['versionId']}: "
                + ("new version, previous kept" if obj["previousVersionId"] else "new object")
                if obj["changed"]
                else f"{obj['key']} version {obj['versionId']}: unchanged (same source)"
            ),
            details=obj,
        )
    return {
        "outcome": Outcome.FIXED,
        "item": org,
        "organizationId": org,
        "period": req.period,
        "objects": objects,
        "figures": {
            "icmsCreditBrl": str(report.icmsCreditBrl),
            "pisCofinsCreditBrl": str(report.pisCofinsCreditBrl),
            "selfConsumedKwh": str(report.selfConsumedKwh),
            "warnings": report.warnings,
        },
    }
