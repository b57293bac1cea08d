"""EventBridge pattern matching with moto's matcher, made array-aware.

moto's flattener stops at lists, so `detail.configuration.metrics[].metricStat...`
(a CloudWatch alarm's metrics) never matches. EventBridge flattens arrays by
collecting every element's leaf values under the same path; we do that here and
hand the flat event to moto's filter logic, so the filter semantics stay moto's.
"""

from __future__ import annotations

import json
from typing import Any

from moto.events.models import EventPattern


def flatten(node: Any, prefix: str = "", out: dict[str, list[Any]] | None = None) -> dict[str, Any]:
    out = {} if out is None else out
    if isinstance(node, dict):
        for key, value in node.items():
            flatten(value, f"{prefix}.{key}" if prefix else key, out)
    elif isinstance(node, list):
        for item in node:
            flatten(item, prefix, out)
    else:
        out.setdefault(prefix, []).append(node)
    return out


def matches(pattern: dict[str, Any], event: dict[str, Any]) -> bool:
    compiled = EventPattern.load(json.dumps(pattern))
    return compiled._does_event_match(flatten(event), compiled.get_pattern())


def transform(event: dict[str, Any], transformer: dict[str, Any] | None) -> str:
    """Apply an EventBridge input transformer (InputPathsMap + InputTemplate)."""
    if not transformer:
        return json.dumps(event)
    values: dict[str, Any] = {}
    for key, path in transformer.get("inputPathsMap", {}).items():
        node: Any = event
        for part in path.removeprefix("$").strip(".").split("."):
            node = node.get(part) if isinstance(node, dict) and part else node
        values[key] = node
    text: str = transformer["inputTemplate"]
    for key, value in values.items():
        # Quoted placeholders take the raw string; bare ones take JSON.
        text = text.replace(f'"<{key}>"', json.dumps(value)).replace(f"<{key}>", json.dumps(value))
    return text
