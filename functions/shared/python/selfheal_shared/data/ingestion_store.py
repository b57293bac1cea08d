"""Reads of a scope's processed bucket (the I/O beside `ingestion`'s pure logic): only the
day folders a window needs, per source prefix, never the whole bucket."""

from __future__ import annotations

from datetime import datetime

from ..core.clients import client
from ..core.errors import NothingFound
from . import ingestion


def scope_buckets(scope: str, roles: tuple[str, ...]) -> dict[str, str]:
    """The scope's buckets by their `TAG_BUCKET` role; two with one role is an error, never
    a guess (the freeze and the partial-data survey both act on what this names)."""
    s3 = client("s3")
    found: dict[str, str] = {}
    for bucket in s3.list_buckets()["Buckets"]:
        try:
            tagset = s3.get_bucket_tagging(Bucket=bucket["Name"])["TagSet"]
        except s3.exceptions.ClientError:
            continue  # untagged bucket
        tags = {t["Key"]: t["Value"] for t in tagset}
        role = tags.get(ingestion.TAG_BUCKET, "")
        if tags.get(ingestion.TAG_SCOPE) == scope and role in roles:
            if role in found:
                raise NothingFound(f"scope {scope!r} has two {role} buckets; tag exactly one")
            found[role] = bucket["Name"]
    return found


def processed_bucket(scope: str) -> str:
    """The scope's bucket tagged `processed`: the one that shows which sources send data."""
    found = scope_buckets(scope, ("processed",))
    if "processed" not in found:
        raise NothingFound(
            f"scope {scope!r}: no bucket tagged {ingestion.TAG_BUCKET}=processed "
            "(need exactly one to see which sources send data)"
        )
    return found["processed"]


def recent_keys(bucket: str, now: datetime, history_days: int) -> list[str]:
    """Keys of the day folders holding the last 24 h and the `history_days` before it."""
    s3 = client("s3")
    sources = [
        p["Prefix"].rstrip("/")
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Delimiter="/")
        for p in page.get("CommonPrefixes", [])
    ]
    keys: list[str] = []
    for source in sources:
        for day in ingestion.days_to_list(now, history_days):
            for page in s3.get_paginator("list_objects_v2").paginate(
                Bucket=bucket, Prefix=f"{source}/{day:%Y/%m/%d}/"
            ):
                keys += [o["Key"] for o in page.get("Contents", [])]
    return keys
