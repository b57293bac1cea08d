"""Copying a bucket into a prefix of another, and checking the copy, for every workflow
that backs data up before acting (the freeze's snapshot, the maintenance window's backup):
one page of objects per call, so a large bucket never outlives a Lambda timeout, and a
check object by object (size and ETag) before anyone relies on it. Copies, never moves."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from .clients import client
from .errors import Transient, is_transient


def copy_objects(
    objects: list[dict[str, Any]],
    *,
    source: str,
    target: str,
    prefix: str,
    storage_class: str | None = None,
    copied_before: int = 0,
) -> int:
    """Copy `objects` (a ListObjectsV2 page's `Contents`) of `source` to `target` under
    `prefix`, metadata and tags kept; how many were copied. A throttle is `Transient` (the
    workflow retries the page: a copy to the same key is the same copy)."""
    s3 = client("s3")
    extra = {"StorageClass": storage_class} if storage_class else {}
    done = 0
    try:
        for obj in objects:
            s3.copy_object(
                Bucket=target,
                Key=prefix + obj["Key"],
                CopySource={"Bucket": source, "Key": obj["Key"]},
                MetadataDirective="COPY",
                TaggingDirective="COPY",
                **extra,
            )
            done += 1
    except ClientError as exc:
        if is_transient(exc):
            raise Transient(
                f"S3 throttled the copy after {copied_before + done} objects: {exc}"
            ) from exc
        raise
    return done


def listing(bucket: str, prefix: str = "") -> dict[str, tuple[int, str]]:
    """Key (without `prefix`) -> (size, ETag) of every object under `prefix`."""
    out = {}
    for page in (
        client("s3").get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
    ):
        for obj in page.get("Contents", []):
            out[obj["Key"][len(prefix) :]] = (obj["Size"], obj["ETag"])
    return out


def compare(source: str, target: str, prefix: str) -> tuple[int, list[str], list[str]]:
    """(objects in `source`, keys missing from the copy, keys copied with another size or
    checksum), sorted."""
    src, copy = listing(source), listing(target, prefix)
    missing = sorted(k for k in src if k not in copy)
    different = sorted(k for k in src if k in copy and copy[k] != src[k])
    return len(src), missing, different
