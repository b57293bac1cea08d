"""Effects exactly once: the key of an action and what the audit trail already says of it.

An action's key is fixed by the incident, the action, its target and the workflow's step
(a deliberate second attempt names its own step), never by the attempt: a Step Functions
Retry, a Lambda retry or a duplicate delivery computes the same key. The key travels with
the effect where AWS keeps it (an SSM command's comment, an AppConfig version's
description, an IoT job id, a training job's name, an MQTT command id), so the world itself
can be asked whether the effect landed.
"""

from __future__ import annotations

import hashlib
import json
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError, HTTPClientError
from botocore.exceptions import ConnectionError as BotoConnectionError

from . import audit
from .errors import is_transient

#: (action, effect key) of the `do` running: what the fault harness calls an acting call.
ACTING: ContextVar[tuple[str, str] | None] = ContextVar("selfheal_acting", default=None)
#: Suffix of the record written before acting (a crash marker carrying the key).
INTENT_SUFFIX = "_intent"
#: Hex digits of a key: short enough for every place AWS keeps one (an SSM comment is at
#: most 100 characters, an IoT job id 64, a SageMaker name 63), long enough never to collide.
KEY_CHARS = 20
#: Where a record keeps the value its action returned, for a retried step to return again.
RETURNED = "returned"


def key(incident_id: str, action: str, target: str, step: str = "") -> str:
    raw = "\x1f".join((incident_id, action, target, step))
    return "sh" + hashlib.sha256(raw.encode()).hexdigest()[:KEY_CHARS]


@dataclass(frozen=True)
class Prior:
    """What the audit trail holds for one key: an intent (an attempt began), a record (the
    effect landed and was recorded, with the value the action returned)."""

    intent: dict[str, Any] | None
    record: dict[str, Any] | None

    @property
    def pending(self) -> bool:
        """An attempt began and nothing says how it ended: ask the world."""
        return self.intent is not None and self.record is None

    def value(self) -> Any:
        assert self.record is not None
        return self.record["details"].get(RETURNED)


def prior(incident_id: str, action: str, effect_key: str) -> Prior:
    intent = record = None
    for r in audit.history(incident_id):
        if r["details"].get("key") != effect_key:
            continue
        if r["action"] == action + INTENT_SUFFIX:
            intent = r
        elif r["action"] == action and RETURNED in r["details"]:
            record = r
    return Prior(intent, record)


def began(incident_id: str, effect_key: str) -> datetime | None:
    """When the first attempt at an effect began (its intent record): for an API that keeps
    no token, "did it land?" is "did something of this kind happen since then?"."""
    for r in audit.history(incident_id):
        if r["details"].get("key") == effect_key and r["action"].endswith(INTENT_SUFFIX):
            return datetime.fromisoformat(r["at"])
    return None


def may_have_landed(exc: BaseException) -> bool:
    """An error after which the call may have reached AWS and done its work: a lost response,
    a timeout, a 5xx, a throttle (retrying is safe once the world says it did not land)."""
    if isinstance(exc, HTTPClientError | BotoConnectionError):
        return True
    if isinstance(exc, ClientError):
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        return is_transient(exc) or int(status) >= 500
    return False


def stored(value: Any) -> Any:
    """The value an action returned, as plain JSON (what a retried step gets back): an
    object that has `to_dict` is kept as that."""
    if hasattr(value, "to_dict"):
        value = value.to_dict()
    return json.loads(json.dumps(value, sort_keys=True, default=str))
