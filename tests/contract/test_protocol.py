"""The protocol holds for every workflow, today's and future ones (asl_protocol.py), and the
rules catch a deliberately broken workflow: a rule that cannot fail proves nothing."""

from __future__ import annotations

import copy
import dataclasses
import json
from collections.abc import Callable
from typing import Any

import pytest
from selfheal_cdk import spec as spec_mod

from tests.contract.asl_protocol import acting_actions, violations

SPEC = spec_mod.load()


def _function_json(fn: spec_mod.FunctionSpec) -> dict[str, Any]:
    path = fn.path / "function.json"
    raw = json.loads(path.read_text()) if path.exists() else {}
    return {
        "permissions": list(fn.permissions),
        "handsOffTo": raw.get("handsOffTo"),
        "pages": raw.get("pages"),
    }


FUNCTIONS = {name: _function_json(fn) for name, fn in SPEC.functions.items()}


def definition(workflow: str) -> dict[str, Any]:
    return json.loads(SPEC.workflows[workflow].definition_text)


@pytest.mark.parametrize("workflow", sorted(SPEC.workflows))
def test_workflow_follows_the_protocol(workflow: str) -> None:
    assert violations(definition(workflow), FUNCTIONS) == []


def acting_without_guards(functions: dict[str, spec_mod.FunctionSpec]) -> dict[str, list[str]]:
    """Acting functions missing a table `run.act` needs: it reads the kill switch, dry-run
    and silences (guard_state) right before acting and writes intent and record (audit)."""
    gaps = {
        name: sorted({"guard_state", "audit"} - set(fn.tables))
        for name, fn in functions.items()
        if acting_actions({"permissions": list(fn.permissions)})
    }
    return {name: missing for name, missing in gaps.items() if missing}


def test_every_acting_function_can_read_the_guards_on_every_branch() -> None:
    """A grant found only by the calls the suite makes misses a branch no test reaches
    (retrain_poll stops an overrunning job on one): what acting needs, every acting
    function has, tested or not."""
    assert acting_without_guards(SPEC.functions) == {}
    fn = SPEC.functions["retrain_poll"]
    broken = dataclasses.replace(fn, tables=("audit",))
    assert acting_without_guards({"retrain_poll": broken}) == {"retrain_poll": ["guard_state"]}


def test_the_acting_functions_are_the_ones_that_change_things() -> None:
    acting = {name for name, fn in FUNCTIONS.items() if acting_actions(fn)}
    assert {
        "rollback_deployment",
        "rollback_disable_flags",
        "freeze_resources",
        "edge_command",
    } <= acting
    assert not acting & {
        "rollback_resolve",
        "rollback_check_alarm",
        "edge_ingress",
        "notify",
        "escalate",
    }


def _skip_guards(d: dict[str, Any]) -> None:
    d["States"]["Resolve"]["Next"] = "RollBack"  # straight from resolving to acting


def _succeed_when_not_fixed(d: dict[str, Any]) -> None:
    d["States"]["RecoveredAfterRollback"]["Choices"][2]["Next"] = "Fixed"


def _second_vocabulary(d: dict[str, Any]) -> None:
    d["States"]["NotifyFixedByRollback"]["Parameters"]["Payload"]["outcome"] = "OK"


def _silent_failure(d: dict[str, Any]) -> None:
    d["States"]["RollBack"]["Catch"][0]["Next"] = "Failed"


def _no_catch(d: dict[str, Any]) -> None:
    del d["States"]["DisableFlags"]["Catch"]


def _no_claim(d: dict[str, Any]) -> None:
    d["StartAt"] = "Resolve"


def _cause_not_set(d: dict[str, Any]) -> None:
    # The escalation's own failure kept apart from `$.error`: Failed would read nothing.
    d["States"]["EscalateFailure"]["Catch"][0]["ResultPath"] = "$"


def _claim_writes_into_input(d: dict[str, Any]) -> None:
    d["States"]["Claim"]["Catch"][0]["ResultPath"] = "$.error"


def _catch_into_a_branch_that_succeeds(d: dict[str, Any]) -> None:
    # Some branches of that Choice escalate, one notifies FIXED: not every path pages.
    d["States"]["RollBack"]["Catch"][0]["Next"] = "RecoveredAfterRollback"


def _catch_all_not_last(d: dict[str, Any]) -> None:
    d["States"]["RollBack"]["Catch"].append({"ErrorEquals": ["InputInvalid"], "Next": "Failed"})


@pytest.mark.parametrize(
    ("breakage", "expected"),
    [
        (_skip_guards, "RollBack: calls rollback_deployment"),
        (_succeed_when_not_fixed, "Fixed: Succeed reached from RecoveredAfterRollback"),
        (_second_vocabulary, "NotifyFixedByRollback: outcome 'OK'"),
        (_silent_failure, "RollBack: its Catch does not lead to an escalation"),
        (_no_catch, "DisableFlags: no Catch of States.ALL"),
        (_no_claim, "the first state must claim the incident"),
        (_cause_not_set, "Failed: reads $.error, which a path into it does not set"),
        (_claim_writes_into_input, "Claim: its Catch writes into the execution input"),
        (
            _catch_into_a_branch_that_succeeds,
            "RollBack: its Catch does not lead to an escalation (ends at Fixed",
        ),
        (_catch_all_not_last, "RollBack: States.ALL must be alone in the last Catcher"),
    ],
    ids=[
        "unguarded-action",
        "succeed-not-fixed",
        "second-vocabulary",
        "silent",
        "no-catch",
        "no-claim",
        "cause-not-set",
        "claim-writes-into-input",
        "catch-into-a-succeeding-branch",
        "catch-all-not-last",
    ],
)
def test_a_broken_workflow_is_caught(
    breakage: Callable[[dict[str, Any]], None], expected: str
) -> None:
    broken = copy.deepcopy(definition("rollback_on_5xx"))
    breakage(broken)
    found = violations(broken, FUNCTIONS)
    assert any(expected in v for v in found), found


def test_an_unguarded_fan_out_item_is_caught() -> None:
    broken = copy.deepcopy(definition("retrain_model"))
    items = broken["States"]["Systems"]["ItemProcessor"]["States"]
    for rule in items["Leased"]["Choices"]:
        rule["Next"] = "StartTraining"  # around the per-system guard
    found = violations(broken, FUNCTIONS)
    assert any("Systems/StartTraining: calls retrain_start" in v for v in found), found


def test_a_fan_out_item_without_an_outcome_is_caught() -> None:
    broken = copy.deepcopy(definition("fiscal_report"))
    broken["States"]["Reports"]["ItemProcessor"]["States"]["OrgDone"]["Parameters"].pop("outcome")
    assert any(
        "OrgDone: a fan-out item ends without an outcome" in v
        for v in violations(broken, FUNCTIONS)
    )


def test_a_hand_off_that_acts_or_puts_elsewhere_is_not_an_outcome() -> None:
    """A workflow may end right after handing a normalized event to a selfheal bus (the
    workflow it routes to records the outcome), but only when that function acts on
    nothing and puts events on that bus alone."""
    intake = definition("edge_alarm_intake")
    assert violations(intake, FUNCTIONS) == []
    fn = FUNCTIONS["edge_alarm_intake"]
    acting = {**fn, "permissions": [*fn["permissions"], {"actions": ["iot:Publish"]}]}
    elsewhere = {
        **fn,
        "permissions": [
            {"actions": ["events:PutEvents"], "resources": ["arn:x:event-bus/default"]}
        ],
    }
    undeclared = {**fn, "handsOffTo": None}
    for broken in (acting, elsewhere, undeclared):
        found = violations(intake, {**FUNCTIONS, "edge_alarm_intake": broken})
        assert any("HandedOn: Succeed reached from HandOn" in v for v in found), found


def _refusal_told_to_ops_only(d: dict[str, Any]) -> None:
    d["States"]["WhichGuard"]["Default"] = "NotifySkipped"  # a kill switch told to ops only


def _refusal_paged_only_to_ops(d: dict[str, Any]) -> None:
    d["States"]["EscalateSkipped"]["Parameters"]["Payload"]["levels"] = ["ops"]


def _window_treated_as_silence(d: dict[str, Any]) -> None:
    d["States"]["WhichGuard"]["Choices"][1] = {
        "Or": [
            {"Variable": "$.guard.guard", "StringEquals": "silence"},
            {"Variable": "$.guard.guard", "StringEquals": "maintenance_window"},
        ],
        "Next": "NotifySkipped",
    }


@pytest.mark.parametrize(
    "breakage",
    [_refusal_told_to_ops_only, _refusal_paged_only_to_ops, _window_treated_as_silence],
    ids=["ops-only", "levels-ops", "window-as-silence"],
)
def test_a_refusal_that_ends_without_a_page_is_caught(
    breakage: Callable[[dict[str, Any]], None],
) -> None:
    """Issue 19: a refusal (kill switch, dry-run, window, budget...) pages on its clock; only
    a silence or a duplicate (refusals.UNPAGED) may end without one."""
    broken = copy.deepcopy(definition("rollback_on_5xx"))
    breakage(broken)
    found = violations(broken, FUNCTIONS)
    assert any(
        "a refusal (GuardsPassed (proceed false)) ends here without a page" in v for v in found
    ), found


def test_the_edge_ladder_that_closed_a_refused_outage_quietly_is_caught() -> None:
    """The ladder before issue 19: a kill switch closed the incident with an ops note
    (`edge_close` SKIPPED_BY_GUARD → Succeed) and an action refused mid-ladder came back to
    it; and a watch that does not declare it pages is no page."""
    ladder = definition("edge_offline_ladder")
    assert violations(ladder, FUNCTIONS) == []
    quiet = copy.deepcopy(ladder)
    quiet["States"]["GuardsPassed"]["Choices"][1]["Next"] = "CloseRefused"
    found = violations(quiet, FUNCTIONS)
    assert any(
        "ClosedWithoutAction: a refusal (GuardsPassed (proceed false))" in v for v in found
    ), found
    mute = {**FUNCTIONS, "edge_watch": {**FUNCTIONS["edge_watch"], "pages": None}}
    found = violations(ladder, mute)
    assert any("Unresolved: a refusal (Restart (GuardRefused))" in v for v in found), found


def test_a_refused_fan_out_item_must_page_before_it_ends() -> None:
    broken = copy.deepcopy(definition("retrain_model"))
    items = broken["States"]["Systems"]["ItemProcessor"]["States"]
    items["ReleaseGuarded"]["Next"] = "ItemGuarded"
    found = violations(broken, FUNCTIONS)
    assert any("Systems/ItemGuarded: a refusal" in v for v in found), found


def test_a_fan_out_item_that_fails_silently_is_caught() -> None:
    """Map items are held to the same rule as the top level: each task catches everything
    into the item's own escalation, on every path."""
    broken = copy.deepcopy(definition("fiscal_report"))
    items = broken["States"]["Reports"]["ItemProcessor"]["States"]
    del items["Deliver"]["Catch"]
    items["Render"]["Catch"][0]["Next"] = "OrgDone"  # a failed render "done", unpaged
    found = violations(broken, FUNCTIONS)
    assert any("Reports/Deliver: no Catch of States.ALL" in v for v in found), found
    assert any(
        "Reports/Render: its Catch does not lead to an escalation (ends at OrgDone)" in v
        for v in found
    ), found


def test_a_parallel_branch_without_a_catch_is_caught() -> None:
    """No workflow has a Parallel state yet; the first one is checked branch by branch."""
    broken = copy.deepcopy(definition("rollback_on_5xx"))
    resolve = broken["States"]["Resolve"]
    task = {k: v for k, v in resolve.items() if k not in ("Catch", "Next", "ResultPath")}
    broken["States"]["Resolve"] = {
        "Type": "Parallel",
        "Branches": [{"StartAt": "Look", "States": {"Look": {**task, "End": True}}}],
        "ResultSelector": {"incident.$": "$[0].incident"},
        "ResultPath": "$",
        "Catch": resolve["Catch"],
        "Next": resolve["Next"],
    }
    found = violations(broken, FUNCTIONS)
    assert found == ["Resolve[0]/Look: no Catch of States.ALL"], found
