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
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar, cast

from pydantic import BaseModel

from . import audit, effects, guards
from .effects import INTENT_SUFFIX, RETURNED
from .errors import ActionFailed, GuardRefused, Transient, bounded
from .handler import Handler
from .handler import remediator as base_remediator
from .models import parse
from .observability import logger
from .outcomes import Outcome

M = TypeVar("M", bound=BaseModel)
T = TypeVar("T")


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

    def effect_key(self, action: str, target: str, step: str = "") -> str:
        """The key `act` gives this effect: for what must count effects, not attempts (a
        restart budget's slot)."""
        return effects.key(self.incident_id, action, target, step)

    def begun(self, action: str, target: str, step: str = "") -> bool:
        """Whether an attempt at this effect already began: a retried step that must not
        take a budget slot again."""
        return (
            effects.prior(self.incident_id, action, self.effect_key(action, target, step)).intent
            is not None
        )

    def pending(self, action: str, target: str, step: str = "") -> bool:
        """Whether an attempt at this effect began and left no record: a "nothing to do,
        already so" check must not skip it (the state may be our own landed effect), and
        `act` reconciles it."""
        return effects.prior(
            self.incident_id, action, self.effect_key(action, target, step)
        ).pending

    def begun_steps(self, action: str, target: str) -> list[str]:
        """The steps of `action` on `target` whose attempt began in this incident: a retried
        loop goes over them again (each returns its record or is reconciled), not only over
        what is still to do, so nothing done by a lost attempt drops out of its answer."""
        return [
            str(r["details"].get("step", ""))
            for r in audit.history(self.incident_id)
            if r["action"] == action + INTENT_SUFFIX and r["details"].get("target") == target
        ]

    def act(
        self,
        action: str,
        *,
        target: str,
        why: str,
        plan: str,
        do: Callable[[str], T],
        landed: Callable[[str], T | None],
        inverse: dict[str, Any] | Callable[[T], dict[str, Any]],
        result: str | Callable[[T], str],
        verify: Callable[[T], str | None] | None = None,
        details: Callable[[T], dict[str, Any]] | None = None,
        outcome: Outcome | None = None,
        step: str = "",
        load: Callable[[Any], T] | None = None,
        safety: bool = False,
    ) -> T:
        """The effect once, and on the record. `do(key)` acts, carrying the effect's key
        where the API keeps one; `landed(key)` asks the world whether that effect happened
        (the value `do` would have returned, or None). A retried step finds its record and
        returns the recorded value; an attempt that began and left no record is reconciled
        from the world before anything is done again. Otherwise: guards again → intent
        record → `do` → `verify(value)` (a problem or None) → the record with its inverse.
        A refused guard records what would have been done and raises `GuardRefused`; a
        failed verification records the action, then raises. `load` rebuilds a recorded
        value that is not plain JSON (the record keeps `to_dict()` of an object). A `safety`
        action (a stop) is not held by a silence or a maintenance window
        (`guards.SAFETY_QUIET_KINDS`)."""
        effect = self.effect_key(action, target, step)
        before = effects.prior(self.incident_id, action, effect)
        if before.record is not None:
            return self._again(action, target, effect, before, landed, load)
        found = self._ask(action, target, effect, landed) if before.pending else None
        if found is not None:
            logger.info("effect landed before its record", extra={"action": action, "key": effect})
            return self._finish(
                action,
                target,
                effect,
                why,
                found,
                result,
                inverse,
                verify,
                details,
                outcome,
                reconciled=True,
            )
        decision = guards.before_action(target, scopes=self.scopes, safety=safety)
        if not decision.proceed:
            self.record(
                action,
                why=decision.reason,
                result=f"not done ({decision.guard}): would {plan}",
                outcome=Outcome.SKIPPED_BY_GUARD,
                details={"guard": decision.guard, "target": target},
            )
            raise GuardRefused(f"{decision.guard}: {decision.reason}; not done: {plan}")
        if before.intent is None:
            self.record(
                action + INTENT_SUFFIX,
                why="written before acting, so a crash between act and record is never silent",
                result=plan,
                details={"target": target, "key": effect, "step": step},
            )
        token = effects.ACTING.set((action, effect))
        try:
            value = do(effect)
        except Exception as exc:
            value = self._after_error(action, target, effect, landed, exc)
        finally:
            effects.ACTING.reset(token)
        return self._finish(
            action,
            target,
            effect,
            why,
            value,
            result,
            inverse,
            verify,
            details,
            outcome,
            reconciled=False,
        )

    def _ask(
        self, action: str, target: str, effect: str, landed: Callable[[str], T | None]
    ) -> T | None:
        try:
            return landed(effect)
        except Exception as exc:
            raise Transient(
                bounded(
                    f"{action} on {target}: cannot tell whether it landed ({exc}); "
                    "a retry asks again before acting"
                )
            ) from exc

    def _after_error(
        self,
        action: str,
        target: str,
        effect: str,
        landed: Callable[[str], T | None],
        exc: Exception,
    ) -> T:
        """The call failed: its work may still have been done (a lost response, a timeout).
        The world says; only an effect that did not land is left to a retry."""
        if not effects.may_have_landed(exc):
            raise exc
        found = self._ask(action, target, effect, landed)
        if found is None:
            raise Transient(
                bounded(
                    f"{action} on {target} did not land ({exc}); a retry acts once, "
                    f"under the same key {effect}"
                )
            ) from exc
        return found

    def _again(
        self,
        action: str,
        target: str,
        effect: str,
        before: effects.Prior,
        landed: Callable[[str], T | None],
        load: Callable[[Any], T] | None,
    ) -> T:
        """A retried step whose effect is done and recorded: no repeat; the world's value
        of it, or where the world keeps none, the recorded one."""
        assert before.record is not None
        logger.info("effect already recorded", extra={"action": action, "target": target})
        problem = before.record["details"].get("problem")
        if problem:
            raise ActionFailed(f"{action} on {target}: {problem}")
        found = self._ask(action, target, effect, landed)
        if found is not None:
            return found
        return load(before.value()) if load else cast(T, before.value())

    def _finish(
        self,
        action: str,
        target: str,
        effect: str,
        why: str,
        value: T,
        result: str | Callable[[T], str],
        inverse: dict[str, Any] | Callable[[T], dict[str, Any]],
        verify: Callable[[T], str | None] | None,
        details: Callable[[T], dict[str, Any]] | None,
        outcome: Outcome | None,
        *,
        reconciled: bool,
    ) -> T:
        problem = verify(value) if verify else None
        text = result(value) if callable(result) else result
        extra: dict[str, Any] = {"target": target, "key": effect, RETURNED: effects.stored(value)}
        if problem is not None:
            extra["problem"] = problem
        if reconciled:
            extra["reconciled"] = "an earlier attempt landed and lost its response or its record"
        try:
            self.record(
                action,
                why=why,
                result=text if problem is None else f"{text}; NOT VERIFIED: {problem}",
                outcome=outcome if problem is None else None,
                inverse=inverse(value) if callable(inverse) else inverse,
                details={**extra, **(details(value) if details else {})},
            )
        except Exception as exc:
            # The effect is real: say so, and leave it to the retry (the intent + the world).
            raise Transient(
                bounded(
                    f"{action} on {target} LANDED ({text}) but its audit record could not "
                    f"be written ({exc}); a retry records it from the world, key {effect}"
                )
            ) from exc
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


def recorded_undo(incident_id: str) -> list[str]:
    """How to undo what was done, as recorded with each action (its inverse): a page says
    how to put back only what the audit trail says was changed."""
    return [
        f"{r['action']}: {json.dumps(r['inverse'], sort_keys=True, default=str)}"
        for r in audit.history(incident_id)
        if r["inverse"] and not r["action"].endswith(INTENT_SUFFIX)
    ]
