"""Where the scheduled jobs read their inputs: the EMS exports in the `data` bucket.

Layout (written by the EMS, read-only here):
    orgs/<organizationId>/profile.json              regime, ICMS rate, tariff, systems
    orgs/<organizationId>/transactions/<YYYY-MM>.csv 15-minute readings, Brasilia time
    orgs/<organizationId>/nfe/<YYYY-MM>.json        the period's energy NF-e
    systems/<systemId>/system.json                  forecasting settings of a system
    systems/<systemId>/load/<YYYY-MM>.csv           hourly load actuals (kW)

The layout and the reads are here; what the files mean is each domain's: an organization's
files the fiscal report's (`reports.fiscal`), a system's the forecasts' (`ml.systems`).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError

from .clients import client
from .config import settings
from .errors import NothingFound

ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"


def profile_key(org: str) -> str:
    return f"orgs/{org}/profile.json"


def transactions_key(org: str, period: str) -> str:
    return f"orgs/{org}/transactions/{period}.csv"


def invoices_key(org: str, period: str) -> str:
    return f"orgs/{org}/nfe/{period}.json"


def system_key(system: str) -> str:
    return f"systems/{system}/system.json"


def load_key(system: str, month: str) -> str:
    return f"systems/{system}/load/{month}.csv"


def read(key: str, bucket: str = "data") -> bytes:
    """An object's bytes; a missing one is NothingFound (never an empty report)."""
    try:
        body = client("s3").get_object(Bucket=settings().bucket(bucket), Key=key)["Body"]
        return body.read()  # type: ignore[no-any-return]
    except ClientError as exc:
        if exc.response["Error"]["Code"] in ("NoSuchKey", "404"):
            raise NothingFound(f"s3://{settings().bucket(bucket)}/{key} does not exist") from None
        raise


def read_json(key: str, bucket: str = "data") -> Any:
    return json.loads(read(key, bucket))


def list_ids(prefix: str) -> list[str]:
    """The ids one level under `prefix` (`orgs/` -> organization ids)."""
    out: list[str] = []
    pages = (
        client("s3")
        .get_paginator("list_objects_v2")
        .paginate(Bucket=settings().bucket("data"), Prefix=prefix, Delimiter="/")
    )
    for page in pages:
        out += [p["Prefix"][len(prefix) :].rstrip("/") for p in page.get("CommonPrefixes", [])]
    return sorted(out)


def months_between(start: datetime, end: datetime) -> list[str]:
    """Every YYYY-MM (UTC) that [start, end) touches."""
    y, m = start.astimezone(UTC).year, start.astimezone(UTC).month
    last = end.astimezone(UTC)
    out = []
    while (y, m) <= (last.year, last.month):
        out.append(f"{y:04d}-{m:02d}")
        y, m = (y + 1, 1) if m == 12 else (y, m + 1)
    return out
