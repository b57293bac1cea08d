"""The one decorator every remediator handler wears: structured logs, traces,
throttling turned into `Transient` (which the workflows retry with backoff), input errors
turned into `InputInvalid`, and every message bounded: an error that echoed a 100 KB field
would push the execution past the state size limit and hide its cause."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from botocore.exceptions import ClientError, HTTPClientError
from botocore.exceptions import ConnectionError as BotoConnectionError
from pydantic import ValidationError

from .errors import InputInvalid, SelfhealError, Transient, bounded, is_transient
from .observability import logger, tracer

Handler = Callable[[dict[str, Any], Any], Any]


def remediator(fn: Handler) -> Handler:
    @functools.wraps(fn)
    def run(event: dict[str, Any], context: Any) -> Any:
        try:
            return fn(event, context)
        except ClientError as exc:
            if is_transient(exc):
                raise Transient(bounded(f"AWS throttled or was unavailable: {exc}")) from exc
            raise
        except (HTTPClientError, BotoConnectionError) as exc:  # a timeout, a lost response
            raise Transient(bounded(f"AWS did not answer: {exc}")) from exc
        except ValidationError as exc:  # a model built after the request was parsed
            raise InputInvalid.from_validation(exc.title, exc) from None
        except RecursionError:
            raise InputInvalid("<root>: input nested too deep to read") from None
        except SelfhealError as exc:
            text = str(exc)
            if len(text) > len(bounded(text)):
                raise type(exc)(bounded(text)) from exc
            raise

    return logger.inject_lambda_context(tracer.capture_lambda_handler(run), log_event=False)
