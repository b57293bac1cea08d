"""One calendar (issue 24 item 5): every acting workflow serving a runbook-001 catalog row
(D*) passes the ONS data platform's calendar scope to each of its guard steps, so a planned
maintenance window (`maintenance#system:ons-data-platform`, put there by the
maintenance_window workflow) holds its actions, and the next D* workflow cannot forget it.
The window's own workflow is the one exception, in the other direction: its guard step must
not pass the scope, or the window would hold the very flag change it exists to make. A
workflow that only reads and reports (the security checks, D8) changes nothing the window
protects, and its report is not held."""

from __future__ import annotations

import ast
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from selfheal_cdk import spec as spec_mod
from selfheal_shared.platform import maintenance_window

from tests.contract.asl_protocol import GUARD_FUNCTION, acting_actions, function_of

SPEC = spec_mod.load()


def acts(workflow: str) -> bool:
    """Whether a function of the workflow may change something (a mutating IAM action)."""
    return any(
        acting_actions({"permissions": list(SPEC.functions[fn].permissions)})
        for fn in SPEC.workflows[workflow].functions
    )


def runbook_001_workflows() -> set[str]:
    """Acting workflows a rule or a schedule starts for a D* row of the catalog."""
    triggers = [*SPEC.rules.values(), *SPEC.schedules.values()]
    return {
        t.workflow
        for t in triggers
        if any(row.startswith("D") for row in t.catalog) and acts(t.workflow)
    }


def guard_calls(graph: dict[str, Any], where: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    """(state, payload) of every guard step, at any depth of Map items and Parallel branches."""
    for name, state in graph["States"].items():
        if function_of(state) == GUARD_FUNCTION:
            yield where + name, state["Parameters"]["Payload"]
        inner = state.get("ItemProcessor") or state.get("Iterator")
        for sub in ([inner] if inner else []) + state.get("Branches", []):
            yield from guard_calls(sub, f"{where}{name}/")


def test_the_runbook_001_workflows_are_found() -> None:
    found = runbook_001_workflows()
    assert {"rollback_on_5xx", "freeze_ingestion", "cost_hygiene", "maintenance_window"} <= found
    assert "security_checks" not in found, "reads and reports only"


@pytest.mark.parametrize(
    "workflow", sorted(runbook_001_workflows() - {maintenance_window.AUTOMATION})
)
def test_every_guard_step_of_a_runbook_001_workflow_reads_the_platform_calendar(
    workflow: str,
) -> None:
    definition = json.loads(SPEC.workflows[workflow].definition_text)
    calls = list(guard_calls(definition))
    assert calls, f"{workflow} has no guard step"
    for state, payload in calls:
        assert maintenance_window.SCOPE in payload.get("scopes", []), (
            f"{workflow}.{state}: its guard step does not pass "
            f'"scopes": ["{maintenance_window.SCOPE}"]: a maintenance window would not hold it'
        )


def test_the_window_does_not_hold_its_own_flag_change() -> None:
    definition = json.loads(SPEC.workflows[maintenance_window.AUTOMATION].definition_text)
    calls = list(guard_calls(definition))
    assert calls
    for state, payload in calls:
        assert maintenance_window.SCOPE not in json.dumps(payload), state


def remediator_calls(function: str) -> list[ast.Call]:
    """The `remediator(...)` calls of a function's handler module."""
    (app,) = Path("functions").glob(f"*/{function}/app.py")
    tree = ast.parse(app.read_text())
    return [
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "remediator"
    ]


def acting_remediators() -> list[tuple[str, str]]:
    """(workflow, function) of every function of a runbook-001 workflow that may change
    something (a mutating IAM action) through the remediator protocol."""
    found = []
    for workflow in sorted(runbook_001_workflows() - {maintenance_window.AUTOMATION}):
        for fn in sorted(SPEC.workflows[workflow].functions):
            mutating = acting_actions({"permissions": list(SPEC.functions[fn].permissions)})
            if mutating and remediator_calls(fn):
                found.append((workflow, fn))
    return found


def test_the_acting_remediators_are_found() -> None:
    found = {fn for _, fn in acting_remediators()}
    assert {"rollback_deployment", "freeze_resume", "cost_hygiene_apply"} <= found


@pytest.mark.parametrize(("workflow", "function"), acting_remediators())
def test_every_acting_remediator_of_a_runbook_001_workflow_reads_the_calendar_again(
    workflow: str, function: str
) -> None:
    """`Run.act` checks the guards again right before each effect with the remediator's
    `scopes`: without the calendar scope there, an execution that passed its guard step
    before a window opened acts inside it."""
    for call in remediator_calls(function):
        scopes = next((k.value for k in call.keywords if k.arg == "scopes"), None)
        assert scopes is not None, f"{workflow}/{function}: remediator(...) passes no scopes"
        assert ast.unparse(scopes) == "mw.calendar_scopes", (
            f"{workflow}/{function}: scopes={ast.unparse(scopes)}, not mw.calendar_scopes"
        )
