"""Named errors. The class name becomes the Step Functions error name, so the ASL
can Retry on `Transient` and Catch everything else into escalation."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

#: Longest excerpt of a bad value an error may carry: a 100 KB field echoed whole would
#: push the execution past Step Functions' 256 KB state limit and hide the real cause.
EXCERPT_CHARS = 80
#: Longest message any remediator error carries into the execution history.
MESSAGE_CHARS = 2000


def excerpt(value: Any, limit: int = EXCERPT_CHARS) -> str:
    """A bounded, printable excerpt of a bad value (never the whole value)."""
    try:
        text = repr(value)
    except Exception:  # a hostile object's repr must not hide the validation error
        text = f"<{type(value).__name__}>"
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} chars)"


def bounded(message: str, limit: int = MESSAGE_CHARS) -> str:
    return message if len(message) <= limit else f"{message[:limit]}... (truncated)"


class SelfhealError(Exception):
    """Base class: anything the workflow should escalate rather than retry."""


class Transient(SelfhealError):
    """Throttling or a timeout: safe to retry with backoff."""


class InputInvalid(SelfhealError):
    """The event or manual input failed validation; the message names the field(s)."""

    @classmethod
    def from_validation(cls, what: str, exc: ValidationError) -> InputInvalid:
        parts = []
        for err in exc.errors(include_url=False)[:10]:
            loc = ".".join(str(p) for p in err["loc"]) or "<root>"
            got = f" (got {excerpt(err['input'])})" if "input" in err else ""
            parts.append(f"{loc}: {err['msg']}{got}")
        return cls(bounded(f"invalid {what}: " + "; ".join(parts)))


class GuardRefused(SelfhealError):
    """A guard (kill switch, silence, dry-run) turned on after the workflow's guard step
    refused the next action; what was done before stays recorded, and people are told."""


class ConcurrentChange(SelfhealError):
    """Someone changed the resource between our check and our action; never overwrite them."""


class ActionFailed(SelfhealError):
    """The action ran but its effect could not be confirmed."""


class NothingFound(SelfhealError):
    """Discovery found no target. Never read as "everything": the workflow escalates."""


_TRANSIENT_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "SlowDown",
        "RequestLimitExceeded",
        "TooManyRequestsException",
        "ServiceUnavailable",
        "InternalError",
        "RequestTimeout",
    }
)


def is_transient(exc: BaseException) -> bool:
    """A ClientError the workflow should retry with backoff rather than escalate."""
    response = getattr(exc, "response", None)
    code = response.get("Error", {}).get("Code") if isinstance(response, dict) else None
    return code in _TRANSIENT_CODES
