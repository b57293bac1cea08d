"""One place that builds boto3 clients, so tests and the local runtime can swap them."""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import Any

import boto3
from botocore.config import Config

_RETRIES = Config(
    retries={"mode": "standard", "max_attempts": 3}, connect_timeout=5, read_timeout=15
)
#: For calls that are not idempotent (SendCommand, StartDeployment, a new certificate): an SDK
#: retry after a lost response would do the work twice. `Run.act` asks the world instead.
_ONCE = _RETRIES.merge(Config(retries={"mode": "standard", "total_max_attempts": 1}))


#: Called with every new client. Empty in AWS; the local runtime adds the IAM check that
#: AWS makes for every call (local/iam_enforcement.py).
observers: list[Callable[[Any], None]] = []


@cache
def client(
    service: str,
    *,
    signature_version: str | None = None,
    sdk_retries: bool = True,
    region: str | None = None,
) -> Any:
    """`signature_version`: `s3v4` for presigned S3 URLs (the default signs them with the
    legacy scheme some regions refuse). `sdk_retries=False` for a call that must not be
    repeated blindly: the caller (`Run.act`) asks the world whether it landed. `region`: a
    global service's home (CloudTrail keeps IAM's events in us-east-1 only)."""
    config = _RETRIES if sdk_retries else _ONCE
    if signature_version:
        config = config.merge(Config(signature_version=signature_version))
    made = boto3.client(service, config=config, **({"region_name": region} if region else {}))
    for observe in observers:
        observe(made)
    return made


def reset() -> None:
    """Forget cached clients (the local runtime calls this when it starts a fresh moto world)."""
    client.cache_clear()
