"""Notifications and escalation: one SNS topic per level (ops, L1, L2, L3)."""

from __future__ import annotations

from typing import Any

from . import clock, page_severity, page_text
from .clients import client
from .config import settings

#: Severity of an outcome → who hears about it. FAILED pages two levels at once
#: because the automation itself is broken, not just the system it watches.
LEVELS_FOR = {
    "FIXED": ("ops",),
    "NO_ACTION_NEEDED": ("ops",),
    "SKIPPED_BY_GUARD": ("ops",),
    "NOT_FIXED": ("l1",),
    "ESCALATED": ("l1",),
    "FAILED": ("l1", "l2"),
}


def publish(level: str, *, subject: str, message: dict[str, Any]) -> str:
    """Publish one page per protocol (`page_text`): the full JSON to HTTP/HTTPS, SQS and
    Lambda subscribers, the readable text to e-mail, one short line to SMS."""
    full = {"at": clock.now().isoformat(), "seq": clock.sequence(), **message}
    resp = client("sns").publish(
        TopicArn=settings().topic(level),
        Subject=subject[:99],
        MessageStructure="json",
        Message=page_text.structured(subject, full),
        MessageAttributes={
            "level": {"DataType": "String", "StringValue": level},
            **page_severity.attributes(message),  # what a subscriber's filter policy reads
        },
    )
    return str(resp["MessageId"])
