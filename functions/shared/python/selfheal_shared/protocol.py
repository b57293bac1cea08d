"""The remediator protocol in one place (DESIGN.md, "How a remediator looks").

A remediator declares its request model, its actor and its automation; `remediator(...)`
parses the request (an `InputInvalid` naming the field), sets the correlation id and hands
the function a `Run`. The function writes only its decision and its action:

- `Run.act` is the one way to change something outside selfheal. It reads the guards again
  right before the action (a kill switch set mid-workflow stops the next action), writes the
  intent record, acts, verifies the effect, and writes the record with the inverse action.
- `Run.record` writes a decision that is not an action (a refusal, a skip, an outcome).

A remediator whose incident id is computed from its raw input gets its `Run` from `begin`.

Outcome and notification texts are built from these records (`recorded_steps`), never from
constants that name steps.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from pydantic import BaseModel

from . import audit, guards
from .errors import ActionFailed, GuardRefused
from .handler import Handler
from .handler import remediator as base_remediator
from .models import parse
from .observability import logger
from .outcomes import Outcome

M = TypeVar("M", bound=BaseModel)
T = TypeVar("T")

#: Records that describe steps taken (the intent records are only a crash marker).
INTENT_SUFFIX = "_intent"


@dataclass(frozen=True)
class Run(Generic[M]):
    """One invocation of a remediator for one incident."""

    request: M
    actor: str
    automation: str
    incident_id: str
    execution_id: str
    #: Wider scopes whose silences also cover this run's targets (`site:<id>`, `fleet`).
    scopes: tuple[str, ...] = ()
    #: The Lambda context (powertools idempotency reads the remaining time from it).
    context: Any = None

    def record(
        self,
        action: str,
        *,
        why: str,
        result: str,
        outcome: Outcome | None = None,
        inverse: dict[str, Any] | None = None,
        details: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        return audit.record(
            incident_id=self.incident_id,
            execution=self.execution_id,
            action=action,
            actor=self.actor,
            why=why,
            result=result,
            outcome=outcome,
            inverse=inverse,
            details=details,
        )

    def act(
        self,
        action: str,
        *,
        target: str,
        why: str,
        plan: str,
        do: Callable[[], T],
        inverse: dict[str, Any] | Callable[[T], dict[str, Any]],
        result: str | Callable[[T], str],
        verify: Callable[[T], str | None] | None = None,
        details: Callable[[T], dict[str, Any]] | None = None,
        outcome: Outcome | None = None,
    ) -> T:
        """Guards again → intent record → `do()` → `verify(value)` (a problem or None) →
        the record with its inverse. A refused guard records what would have been done and
        raises `GuardRefused`; a failed verification records the action, then raises."""
        decision = guards.before_action(target, scopes=self.scopes)
        if not decision.proceed:
            self.record(
                action,
                why=decision.reason,
                result=f"not done ({decision.guard}): would {plan}",
                outcome=Outcome.SKIPPED_BY_GUARD,
                details={"guard": decision.guard, "target": target},
            )
            raise GuardRefused(f"{decision.guard}: {decision.reason}; not done: {plan}")
        self.record(
            action + INTENT_SUFFIX,
            why="written before acting, so a crash between act and record is never silent",
            result=plan,
            details={"target": target},
        )
        value = do()
        problem = verify(value) if verify else None
        text = result(value) if callable(result) else result
        self.record(
            action,
            why=why,
            result=text if problem is None else f"{text}; NOT VERIFIED: {problem}",
            outcome=outcome if problem is None else None,
            inverse=inverse(value) if callable(inverse) else inverse,
            details={"target": target, **(details(value) if details else {})},
        )
        if problem is not None:
            raise ActionFailed(f"{action} on {target}: {problem}")
        return value


def _ids(request: BaseModel) -> tuple[str, str]:
    """The incident and execution a request belongs to: on the request or its `incident`."""
    for holder in (getattr(request, "incident", None), request):
        incident = getattr(holder, "incidentId", None)
        execution = getattr(holder, "executionId", None)
        if isinstance(incident, str) and isinstance(execution, str):
            return incident, execution
    raise TypeError(f"{type(request).__name__} names no incidentId/executionId")


def begin(
    request: M,
    *,
    actor: str,
    automation: str,
    incident_id: str,
    execution_id: str,
    scopes: tuple[str, ...] = (),
    context: Any = None,
) -> Run[M]:
    """The `Run` of a request already parsed: sets the correlation id to its incident. For a
    remediator whose incident id is computed from its raw input (the first step of a
    workflow, or the escalation that must work with whatever it is given), so it cannot
    wear `remediator(...)` but still writes its decisions with `run.record`."""
    logger.set_correlation_id(incident_id)
    return Run(
        request=request,
        actor=actor,
        automation=automation,
        incident_id=incident_id,
        execution_id=execution_id,
        scopes=scopes,
        context=context,
    )


def remediator(
    request: type[M],
    *,
    actor: str,
    automation: str,
    what: str,
    scopes: Callable[[M], tuple[str, ...]] | None = None,
) -> Callable[[Callable[[Run[M]], Any]], Handler]:
    """Wrap `fn(run)` as a Lambda handler that follows the protocol."""

    def wrap(fn: Callable[[Run[M]], Any]) -> Handler:
        @functools.wraps(fn)
        def handler(event: dict[str, Any], context: Any) -> Any:
            req = parse(request, event, what)
            incident_id, execution_id = _ids(req)
            run = begin(
                req,
                actor=actor,
                automation=automation,
                incident_id=incident_id,
                execution_id=execution_id,
                scopes=scopes(req) if scopes else (),
                context=context,
            )
            return fn(run)

        return base_remediator(handler)

    return wrap


def recorded_steps(incident_id: str, execution: str | None = None) -> list[str]:
    """What was done for an incident, as recorded: the texts outcomes and pages are built
    from, so they never claim a step that did not run."""
    steps = []
    for r in audit.history(incident_id):
        if execution and r.get("execution") != execution:
            continue
        if r["action"].endswith(INTENT_SUFFIX) or r["action"] == "escalate":
            continue
        steps.append(f"{r['action']}: {r['result']}")
    return steps
