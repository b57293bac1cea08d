"""EventBridge pattern matching with moto's matcher, made array-aware.

moto's flattener stops at lists, so `detail.configuration.metrics[].metricStat...`
(a CloudWatch alarm's metrics) never matches. EventBridge flattens arrays by
collecting every element's leaf values under the same path; we do that here and
hand the flat event to moto's filter logic, so the filter semantics stay moto's.

`admit` is the door every event goes through (`Pipeline.put_event`): what PutEvents would
refuse, then the rules it matches and the input each target starts its workflow with.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from moto.events.models import EventPattern

from . import aws_validation

if TYPE_CHECKING:
    from selfheal_cdk.spec import RuleSpec


def flatten(node: Any, prefix: str = "", out: dict[str, list[Any]] | None = None) -> dict[str, Any]:
    """`{"a.b": [leaf, ...]}` of every leaf, in document order, built without recursion: an
    event nested thousands deep is matched (and refused later), never a crash."""
    out = {} if out is None else out
    todo: list[tuple[str, Any]] = [(prefix, node)]
    while todo:
        path, value = todo.pop()
        if isinstance(value, dict):
            todo += reversed([(f"{path}.{k}" if path else k, v) for k, v in value.items()])
        elif isinstance(value, list):
            todo += reversed([(path, item) for item in value])
        else:
            out.setdefault(path, []).append(value)
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


@dataclass(frozen=True)
class Admission:
    """What EventBridge does with one event: refuse it (`refusal`, nothing routed), or start
    each matched rule's target with its input (`targets`); a target whose input cannot even
    be written is kept as its dead-letter queue would keep it (`dead`, with why)."""

    refusal: str | None = None
    targets: list[tuple[RuleSpec, str]] = field(default_factory=list)
    dead: list[tuple[RuleSpec, str]] = field(default_factory=list)


def admit(event: dict[str, Any], rules: Iterable[RuleSpec], bus: str = "*") -> Admission:
    """`bus="*"` tries the rules of every bus (a saved event replayed). Never raises."""
    refusal = aws_validation.event_refusal(event)
    if refusal is not None:
        return Admission(refusal=str(refusal))
    admission = Admission()
    for rule in rules:
        if bus not in ("*", rule.event_bus) or not matches(rule.event_pattern, event):
            continue
        try:
            admission.targets.append((rule, transform(event, rule.input_transformer)))
        except (RecursionError, ValueError) as exc:
            admission.dead.append((rule, f"{type(exc).__name__}: {exc}"))
    return admission
