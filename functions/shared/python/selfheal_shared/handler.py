"""The one decorator every remediator handler wears: structured logs, traces, and
throttling turned into `Transient`, which the workflows retry with backoff (any
other error escalates)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from botocore.exceptions import ClientError

from .errors import Transient, is_transient
from .observability import logger, tracer

Handler = Callable[[dict[str, Any], Any], Any]


def remediator(fn: Handler) -> Handler:
    @functools.wraps(fn)
    def run(event: dict[str, Any], context: Any) -> Any:
        try:
            return fn(event, context)
        except ClientError as exc:
            if is_transient(exc):
                raise Transient(f"AWS throttled or was unavailable: {exc}") from exc
            raise

    return logger.inject_lambda_context(tracer.capture_lambda_handler(run), log_event=False)
