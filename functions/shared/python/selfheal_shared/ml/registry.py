"""The SageMaker Model Registry as the source of truth of which forecast model serves.

One model package group per system (`forecast-<systemId>`); the serving model is the
newest *Approved* package. Promoting = registering the candidate Approved; keeping =
registering it Rejected with the reason; rolling back = marking the serving package
Rejected, so the one approved before it serves again. Metadata is always written whole
(read, merge, write), so the result does not depend on how UpdateModelPackage merges.
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from ..core.clients import client
from . import forecast


def group_name(system: str) -> str:
    return f"forecast-{system}"


def ensure_group(system: str) -> None:
    try:
        client("sagemaker").create_model_package_group(
            ModelPackageGroupName=group_name(system),
            ModelPackageGroupDescription=f"load forecast models of {system} (selfheal)",
        )
    except ClientError as exc:
        code = exc.response["Error"]["Code"]
        message = exc.response["Error"].get("Message", "")
        if code not in ("ValidationException", "ResourceInUse") or "exist" not in message.lower():
            raise


def approved(system: str) -> list[dict[str, Any]]:
    """Approved packages, newest version first (ModelPackageVersion is monotonic)."""
    try:
        pages = (
            client("sagemaker")
            .get_paginator("list_model_packages")
            .paginate(ModelPackageGroupName=group_name(system), ModelApprovalStatus="Approved")
        )
        items = [s for page in pages for s in page["ModelPackageSummaryList"]]
    except ClientError as exc:
        if exc.response["Error"]["Code"] in ("ValidationException", "ResourceNotFound"):
            return []
        raise
    return sorted(items, key=lambda s: int(s.get("ModelPackageVersion", 0)), reverse=True)


#: The metadata property that carries the effect key of the registration that made a version.
EFFECT = "selfhealEffect"


def registered_under(system: str, key: str) -> str | None:
    """The version an earlier attempt registered under `key` (CreateModelPackage keeps no
    token to look up; the key is in the version's own metadata)."""
    for summary in approved(system)[:5]:
        package = describe(summary["ModelPackageArn"])
        if package.get("CustomerMetadataProperties", {}).get(EFFECT) == key:
            return str(summary["ModelPackageArn"])
    return None


def describe(arn: str) -> dict[str, Any]:
    return client("sagemaker").describe_model_package(ModelPackageName=arn)  # type: ignore[no-any-return]


def serving(system: str) -> dict[str, Any] | None:
    found = approved(system)
    return describe(found[0]["ModelPackageArn"]) if found else None


def model_url(package: dict[str, Any]) -> str:
    return str(package["InferenceSpecification"]["Containers"][0]["ModelDataUrl"])


def split_s3(url: str) -> tuple[str, str]:
    if not url.startswith("s3://"):
        raise ValueError(f"not an s3:// URL: {url!r}")
    bucket, _, key = url[5:].partition("/")
    return bucket, key


def load_model(url: str, member: str = forecast.MODEL_MEMBER) -> forecast.Model:
    bucket, key = split_s3(url)
    blob = client("s3").get_object(Bucket=bucket, Key=key)["Body"].read()
    return forecast.unpack_model(blob, member)


def register(
    system: str,
    *,
    model_data_url: str,
    image: str,
    approve: bool,
    description: str,
    metadata: dict[str, str],
    metrics_uri: str,
    key: str,
) -> str:
    ensure_group(system)
    return str(
        client("sagemaker").create_model_package(
            ModelPackageGroupName=group_name(system),
            ModelPackageDescription=description[:1000],
            InferenceSpecification={
                "Containers": [{"Image": image, "ModelDataUrl": model_data_url}],
                "SupportedContentTypes": ["text/csv"],
                "SupportedResponseMIMETypes": ["text/csv"],
            },
            ModelApprovalStatus="Approved" if approve else "Rejected",
            CustomerMetadataProperties={**metadata, EFFECT: key},
            ClientToken=key,
            ModelMetrics={
                "ModelQuality": {
                    "Statistics": {"ContentType": "application/json", "S3Uri": metrics_uri}
                }
            },
        )["ModelPackageArn"]
    )


def set_status(arn: str, status: str, description: str, metadata: dict[str, str]) -> None:
    merged = {**describe(arn).get("CustomerMetadataProperties", {}), **metadata}
    client("sagemaker").update_model_package(
        ModelPackageArn=arn,
        ModelApprovalStatus=status,
        ApprovalDescription=description[:1000],
        CustomerMetadataProperties=merged,
    )
