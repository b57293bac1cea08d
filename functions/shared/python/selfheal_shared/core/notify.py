"""Notifications and escalation: one SNS topic per level (ops, L1, L2, L3)."""

from __future__ import annotations

import json
from typing import Any

from . import clock
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
    resp = client("sns").publish(
        TopicArn=settings().topic(level),
        Subject=subject[:99],
        Message=json.dumps(
            {"at": clock.now().isoformat(), "seq": clock.sequence(), **message},
            sort_keys=True,
            default=str,
        ),
        MessageAttributes={"level": {"DataType": "String", "StringValue": level}},
    )
    return str(resp["MessageId"])
