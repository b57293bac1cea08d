"""The one rule for a guard's refusal (DESIGN.md "A guard refusal never closes an incident
silently"; issue 19): what a refused action means for its incident, for every workflow.

A refusal stops actions, never the people. The incident stays open (nothing closes it but
the world — the edge back, the alarm OK — or a person) and pages on its severity's clock
(`severity.py`: P1 L1 at 0, P2 L1 at 10 / L2 30 / L3 60, P3 L1 60 / L2 240; P4 is a ticket
to ops, not a page). Two refusals page nobody, each for its own reason:

| refusal                                        | incident        | pages                     |
|------------------------------------------------|-----------------|---------------------------|
| `silence`: an operator's explicit silence      | open, held: no  | none while it lasts (the  |
| (`silence#<scope>`, runbook 000 §6 "Silenciar  | action; resumes | person chose "no page");  |
| alarme"), until it expires                     | when it ends    | the clock goes on after   |
| `duplicate`: another execution holds this      | the other       | none from here: the other |
| incident                                       | execution's     | execution pages           |
| anything else: kill switch, dry-run,           | open, no action | on its severity's clock;  |
| maintenance window, cooldown, restart budget,  |                 | a workflow without a      |
| circuit breaker, restart lock, ...             |                 | clock: L1 at once         |

Maintenance windows (`maintenance#<scope>`) keep automation's hands off a scope while
people work on it; they say nothing about telling people, so they page like the kill
switch. Not to be paged is what a silence is for (the runbook silences alarms "for
programmed maintenance").

Who reads it: the guard step (`remediation_guards` returns `pages`/`waits` with its
decision, for the workflows' Choices), the escalation (`escalate`: a refusal's levels), the
edge ladder (`edge_silenced` classifies a refused action, `edge_watch` and `battery.page`
hold pages only under `quiet`). No I/O here but `quiet`.
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass
from typing import Any

from . import severity as severity_table

SILENCE = "silence"
DUPLICATE = "duplicate"
#: The escalation levels that are pages (ops is a notification, not a page).
PAGE_LEVELS = ("l1", "l2", "l3")
#: Refusals that page nobody (see the table above); every other guard pages.
UNPAGED = frozenset({SILENCE, DUPLICATE})
#: `GuardRefused`, as a Step Functions Catch names the error.
ERROR = "GuardRefused"


@dataclass(frozen=True)
class Refusal:
    """A guard's refusal of an incident's action, and what follows from it."""

    guard: str
    reason: str = ""

    @property
    def ours(self) -> bool:
        """False for a duplicate: the incident is another execution's, which pages."""
        return self.guard != DUPLICATE

    @property
    def stays_open(self) -> bool:
        """Always: a refusal never closes an incident, only the world or a person does."""
        return True

    @property
    def waits(self) -> bool:
        """A silence: no action and no page while it lasts, then the workflow goes on."""
        return self.guard == SILENCE

    @property
    def pages(self) -> bool:
        """Whether people are paged about this refusal (on the severity's clock)."""
        return self.guard not in UNPAGED

    def levels_now(self, severity: str | None = None) -> tuple[str, ...]:
        """Who to tell right away, for a workflow that does not watch a clock of its own:
        L1 (the first level of every schedule); a P4 is a ticket to ops; a silence or a
        duplicate is told to ops only."""
        if not self.pages:
            return ("ops",)
        if severity == "P4":
            return (severity_table.TICKET_LEVEL,)
        return ("l1",)

    def page_due(
        self,
        severity: str,
        minutes: float,
        paged: list[str],
        overrides: dict[str, dict[str, int]] | None = None,
    ) -> tuple[str | None, float | None]:
        """The level to page now (if any) and the minutes of the next page, on the clock of
        `severity` counted from the incident's start (`severity.page_due`); nothing for a
        refusal that pages nobody."""
        if not self.pages:
            return None, None
        return severity_table.page_due(severity, minutes, paged, overrides)

    def to_dict(self) -> dict[str, Any]:
        return {
            "guard": self.guard,
            "reason": self.reason,
            "pages": self.pages,
            "waits": self.waits,
            "staysOpen": self.stays_open,
        }


def of(guard: str | None, reason: str = "") -> Refusal:
    """The refusal by `guard` (a guard decision's `guard`); an unnamed one pages."""
    return Refusal(guard or "unknown", reason)


def from_error(error: object) -> Refusal | None:
    """The refusal a Step Functions Catch result holds (`{"Error": "GuardRefused", "Cause":
    <the Lambda error JSON>}`: `Run.act`'s message is `<guard>: <reason>; not done: <plan>`),
    or None when the error is not a refusal."""
    if not isinstance(error, dict) or error.get("Error") != ERROR:
        return None
    message = str(error.get("Cause", ""))
    with contextlib.suppress(TypeError, ValueError, AttributeError):
        message = str(json.loads(message).get("errorMessage", message))
    guard, sep, rest = message.partition(": ")
    if not sep or not guard.replace("_", "").isalnum():
        return of(None, message)
    return Refusal(guard, rest)


def line(record: dict[str, Any]) -> str:
    """How an audit record of a refusal reads on a timeline's line (`selfheal replay`,
    `selfheal timeline`): which guard refused, its reason, and what was not done, e.g.
    `rollback_on_5xx: SKIPPED_BY_GUARD - cooldown refused: rollback_on_5xx already acted on
    orders-api in the last 30 min (incident ...); skipped: cooldown; the incident stays open
    ...`. The guard is the record's `details.guard` (named `guard` when a record does not
    say); the reason is its `why`, the result is added when it says more. A record of
    another outcome reads `<action>: <outcome> - <why>`."""
    action, outcome = record.get("action", "?"), record.get("outcome", "")
    why, result = str(record.get("why") or ""), str(record.get("result") or "")
    if outcome != "SKIPPED_BY_GUARD":
        return f"{action}: {outcome} - {why}"
    details: Any = record.get("details") or {}
    with contextlib.suppress(TypeError, ValueError):
        details = json.loads(details) if isinstance(details, str) else details
    guard = details.get("guard") if isinstance(details, dict) else None
    text = f"{action}: {outcome} - {guard or 'guard'} refused: {why or 'no reason recorded'}"
    if result and result not in why:
        text += f"; {result}"
    return text


def quiet(scopes: list[str]) -> dict[str, Any] | None:
    """The operator's silence covering any of these scopes (or `global`): the one refusal
    that holds pages. A maintenance window does not (see the module's table)."""
    from . import guards

    return guards.silenced(scopes, kinds=(SILENCE,))
