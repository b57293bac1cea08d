"""What a workflow's tasks call, read from its ASL, so the state machine role gets exactly that.

Only integrations listed here can be granted; any other one fails the synth with the state's
name instead of deploying a workflow that dies later with AccessDenied.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from .spec import PLACEHOLDER, SpecError, WorkflowSpec

_LAMBDA = re.compile(r"^arn:aws:states:::lambda:invoke(\.waitForTaskToken)?$")
_SNS = re.compile(r"^arn:aws:states:::sns:publish(\.waitForTaskToken)?$")
_DYNAMODB = re.compile(r"^arn:aws:states:::(?:aws-sdk:)?dynamodb:([a-zA-Z]+)$")


@dataclass(frozen=True)
class Calls:
    """Names (without the `Function_`/`Topic_`/`Table_` prefix) each kind of task uses."""

    functions: frozenset[str]
    topics: frozenset[str]
    #: table name -> DynamoDB actions (`dynamodb:PutItem`, ...).
    tables: dict[str, frozenset[str]]


def iter_tasks(states: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every Task state, including those inside Parallel branches and Map processors."""
    for name, state in states.items():
        kind = state.get("Type")
        if kind == "Task":
            yield name, state
        elif kind == "Parallel":
            for branch in state.get("Branches", ()):
                yield from iter_tasks(branch.get("States", {}))
        elif kind == "Map":
            inner = state.get("ItemProcessor") or state.get("Iterator") or {}
            yield from iter_tasks(inner.get("States", {}))


def _placeholder(wf: WorkflowSpec, state: str, value: Any, kind: str) -> str:
    match = PLACEHOLDER.fullmatch(value) if isinstance(value, str) else None
    prefix = f"{kind}_"
    if not match or not match.group(1).startswith(prefix):
        raise SpecError(
            f"{wf.path.name}: state {state!r} must name its target as ${{{prefix}<name>}}, "
            f"got {value!r} (a dynamic target cannot be granted)"
        )
    return match.group(1).removeprefix(prefix)


def calls(wf: WorkflowSpec) -> Calls:
    """The functions, topics and table actions the workflow's tasks use."""
    functions: set[str] = set()
    topics: set[str] = set()
    tables: dict[str, set[str]] = {}
    for name, state in iter_tasks(json.loads(wf.definition_text).get("States", {})):
        resource = state.get("Resource", "")
        params = state.get("Parameters") or state.get("Arguments") or {}
        if PLACEHOLDER.fullmatch(resource):
            functions.add(_placeholder(wf, name, resource, "Function"))
        elif _LAMBDA.match(resource):
            functions.add(_placeholder(wf, name, params.get("FunctionName"), "Function"))
        elif _SNS.match(resource):
            topics.add(_placeholder(wf, name, params.get("TopicArn"), "Topic"))
        elif m := _DYNAMODB.match(resource):
            table = _placeholder(wf, name, params.get("TableName"), "Table")
            action = m.group(1)
            tables.setdefault(table, set()).add(f"dynamodb:{action[0].upper()}{action[1:]}")
        else:
            raise SpecError(
                f"{wf.path.name}: state {name!r} uses {resource!r}, which "
                "cdk/selfheal_cdk/asl.py does not know how to grant; add it there"
            )
    return Calls(
        functions=frozenset(functions),
        topics=frozenset(topics),
        tables={t: frozenset(a) for t, a in tables.items()},
    )
