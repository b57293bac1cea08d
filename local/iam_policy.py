"""IAM's decision for one request against one role's statements, as AWS makes it.

Explicit Deny wins, then any Allow whose action, resource and every condition match; else
the implicit deny. Actions match case-insensitively, resources case-sensitively, both with
`*` and `?`. Conditions: the operators and keys the synthesized policies use; an operator
this module does not know fails its statement (never allows by accident).
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import Any

#: Resource tags by ARN, looked up only when a condition asks for one.
TagLookup = Callable[[str], Mapping[str, str]]
PLACEHOLDER = re.compile(r"\$\{([^}]+)\}")


@dataclass(frozen=True)
class Request:
    """One action on one resource, with the request's own condition keys."""

    action: str
    resource: str
    context: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Statement:
    effect: str
    actions: tuple[str, ...]
    resources: tuple[str, ...]
    condition: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    def covers(self, request: Request, tags: TagLookup) -> bool:
        return (
            any(_matches(a, request.action, fold=True) for a in self.actions)
            and any(_matches(r, request.resource, fold=False) for r in self.resources)
            and all(
                _condition(op, key, expected, request, tags)
                for op, block in self.condition.items()
                for key, expected in block.items()
            )
        )


class Policy:
    """The statements of one role, placeholders already resolved to names."""

    def __init__(self, statements: Iterable[Statement]) -> None:
        self.statements = tuple(statements)

    def allows(self, request: Request, tags: TagLookup) -> bool:
        matching = [s for s in self.statements if s.covers(request, tags)]
        return bool(matching) and all(s.effect == "Allow" for s in matching)

    @classmethod
    def from_json(cls, statements: Iterable[Mapping[str, Any]], names: Mapping[str, str]) -> Policy:
        """Statements as `local/role_policies.json` holds them; `${...}` replaced from
        `names`, an unknown one left as is (it then matches no real ARN)."""

        def sub(text: str) -> str:
            return PLACEHOLDER.sub(lambda m: names.get(m.group(1), m[0]), text)

        return cls(
            Statement(
                effect=s["Effect"],
                actions=tuple(s["Action"]),
                resources=tuple(sub(r) for r in s["Resource"]),
                condition={
                    op: {k: _sub_values(v, sub) for k, v in block.items()}
                    for op, block in s.get("Condition", {}).items()
                },
            )
            for s in statements
        )


def _sub_values(value: Any, sub: Callable[[str], str]) -> Any:
    if isinstance(value, str):
        return sub(value)
    return [sub(v) for v in value]


@cache
def _pattern(pattern: str, fold: bool) -> re.Pattern[str]:
    # fnmatch's [] classes do not exist in IAM: escape them, keep * and ?
    regex = fnmatch.translate(pattern.replace("[", "\x00").replace("]", "\x01"))
    regex = regex.replace("\x00", r"\[").replace("\x01", r"\]")
    return re.compile(regex, re.IGNORECASE if fold else 0)


def _matches(pattern: str, value: str, *, fold: bool) -> bool:
    return _pattern(pattern, fold).match(value) is not None


def _context_value(key: str, request: Request, tags: TagLookup) -> str | None:
    lowered = key.lower()
    for k, v in request.context.items():
        if k.lower() == lowered:
            return v
    for prefix in ("aws:resourcetag/", "ssm:resourcetag/"):
        if lowered.startswith(prefix):
            return tags(request.resource).get(key[len(prefix) :])
    if lowered == "aws:resourceaccount":
        parts = request.resource.split(":")
        return parts[4] if len(parts) > 4 and parts[4] else None
    return None


def _condition(op: str, key: str, expected: Any, request: Request, tags: TagLookup) -> bool:
    values = [expected] if isinstance(expected, str) else [str(v) for v in expected]
    actual = _context_value(key, request, tags)
    if op == "Null":
        return (actual is None) == (values[0].lower() == "true")
    if op in {"StringNotEquals", "StringNotLike", "ArnNotLike", "ArnNotEquals"}:
        positive = op.replace("Not", "")
        return actual is None or not _condition(positive, key, expected, request, tags)
    if actual is None:
        return False
    if op in {"StringEquals", "ArnEquals"}:
        return actual in values
    if op == "StringEqualsIgnoreCase":
        return actual.lower() in {v.lower() for v in values}
    if op in {"StringLike", "ArnLike"}:
        return any(_matches(v, actual, fold=False) for v in values)
    if op == "Bool":
        return actual.lower() in {v.lower() for v in values}
    return False  # an operator we do not evaluate never grants
