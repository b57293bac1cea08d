"""Named errors. The class name becomes the Step Functions error name, so the ASL
can Retry on `Transient` and Catch everything else into escalation."""

from __future__ import annotations

from pydantic import ValidationError


class SelfhealError(Exception):
    """Base class: anything the workflow should escalate rather than retry."""


class Transient(SelfhealError):
    """Throttling or a timeout: safe to retry with backoff."""


class InputInvalid(SelfhealError):
    """The event or manual input failed validation; the message names the field(s)."""

    @classmethod
    def from_validation(cls, what: str, exc: ValidationError) -> InputInvalid:
        parts = []
        for err in exc.errors():
            loc = ".".join(str(p) for p in err["loc"]) or "<root>"
            parts.append(f"{loc}: {err['msg']}")
        return cls(f"invalid {what}: " + "; ".join(parts))


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
