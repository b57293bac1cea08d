"""One place that builds boto3 clients, so tests and the local runtime can swap them."""

from __future__ import annotations

from functools import cache
from typing import Any

import boto3
from botocore.config import Config

_RETRIES = Config(
    retries={"mode": "standard", "max_attempts": 3}, connect_timeout=5, read_timeout=15
)


@cache
def client(service: str) -> Any:
    return boto3.client(service, config=_RETRIES)


def reset() -> None:
    """Forget cached clients (the local runtime calls this when it starts a fresh moto world)."""
    client.cache_clear()
