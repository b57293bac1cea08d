"""The one refusal rule (issue 19, `selfheal_shared/core/refusals.py`): a refusal stops actions,
never pages; only an operator's silence and a duplicate page nobody. The guard step and
the escalation apply it for every workflow."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from selfheal_shared.core import guards, refusals

from local.runtime import Pipeline

PAGING = ["kill_switch", "dry_run", "maintenance_window", "cooldown", "restart_lock", "x"]


@pytest.mark.parametrize("guard", PAGING)
def test_every_refusal_but_a_silence_or_a_duplicate_stays_open_and_pages(guard: str) -> None:
    refusal = refusals.of(guard, "because")
    assert refusal.stays_open and refusal.pages and not refusal.waits and refusal.ours
    assert refusal.levels_now() == ("l1",) and refusal.levels_now("P2") == ("l1",)
    assert refusal.levels_now("P4") == ("ops",), "P4's clock is a ticket to ops"


@pytest.mark.parametrize(
    ("severity", "minutes", "paged", "due"),
    [
        ("P2", 5, [], (None, 10.0)),
        ("P2", 10, [], ("l1", None)),
        ("P2", 31, ["l1"], ("l2", None)),
        ("P2", 61, ["l1", "l2", "l3"], (None, None)),
        ("P1", 0, [], ("l1", None)),
        ("P4", 600, [], (None, None)),
    ],
)
def test_a_refusal_pages_on_its_severity_clock(
    severity: str, minutes: float, paged: list[str], due: tuple[str | None, float | None]
) -> None:
    assert refusals.of("kill_switch").page_due(severity, minutes, paged) == due


def test_a_silence_holds_and_a_duplicate_is_the_other_executions() -> None:
    silence, duplicate = refusals.of("silence"), refusals.of("duplicate")
    assert silence.waits and not silence.pages and silence.stays_open and silence.ours
    assert not duplicate.pages and not duplicate.ours and not duplicate.waits
    for quiet in (silence, duplicate):
        assert quiet.levels_now() == ("ops",)
        assert quiet.page_due("P1", 30, []) == (None, None)


def _caught(message: str, error: str = "GuardRefused") -> dict[str, Any]:
    """A Step Functions Catch result of a Lambda error."""
    return {"Error": error, "Cause": json.dumps({"errorMessage": message, "errorType": error})}


@pytest.mark.parametrize(
    ("caught", "guard"),
    [
        (_caught("kill_switch: kill switch on: drill; not done: send restart"), "kill_switch"),
        (_caught("silence: silenced on fleet until ...; not done: x"), "silence"),
        (_caught("restart_lock: held since 15:00; not done: ota-rollback"), "restart_lock"),
        ({"Error": "GuardRefused", "Cause": "not json"}, "unknown"),
    ],
)
def test_the_guard_is_read_from_a_caught_guard_refused(caught: dict[str, Any], guard: str) -> None:
    found = refusals.from_error(caught)
    assert found is not None and found.guard == guard


def test_other_errors_are_not_refusals() -> None:
    assert refusals.from_error(_caught("boom", "ActionFailed")) is None
    assert refusals.from_error(None) is None and refusals.from_error("GuardRefused") is None


def test_only_a_silence_holds_pages_a_maintenance_window_does_not(
    make_pipeline: Any,
) -> None:
    p: Pipeline = make_pipeline()
    now = p.clock.now()
    guards.set_maintenance("edge-1", starts=now, ends=now + timedelta(hours=1), reason="BMS")
    assert guards.silenced(["edge-1"]) is not None, "the window still keeps actions out"
    assert refusals.quiet(["edge-1"]) is None, "but holds no page"
    guards.silence("site:s1", minutes=30, reason="manutenção preventiva")
    quiet = refusals.quiet(["edge-1", "site:s1"])
    assert quiet is not None and quiet["guard"] == "silence" and quiet["scope"] == "site:s1"


def test_the_guard_step_returns_the_rule_with_its_decision(make_pipeline: Any) -> None:
    p: Pipeline = make_pipeline()
    step = p.lambdas.handler_for("remediation_guards")
    request = {
        "automation": "rollback_on_5xx",
        "resource": "orders-api",
        "incidentId": "inc-1",
        "executionId": "arn:exec:1",
        "cooldownMinutes": 0,
    }
    passed = step(request, None)
    assert passed["proceed"] and passed["pages"] is False and passed["waits"] is False
    guards.set_switch(guards.KILL_SWITCH, enabled=True, reason="drill", actor="test")
    refused = step(request, None)
    assert (refused["guard"], refused["pages"], refused["waits"]) == ("kill_switch", True, False)
    guards.set_switch(guards.KILL_SWITCH, enabled=False, reason="", actor="test")
    guards.silence("orders-api", minutes=10, reason="deploy")
    held = step(request, None)
    assert (held["guard"], held["pages"], held["waits"]) == ("silence", False, True)


@pytest.mark.parametrize(
    ("state", "severity", "levels", "guard"),
    [
        ({"guard": {"proceed": False, "guard": "kill_switch", "reason": "drill"}}, None,
         ["ops", "l1"], "kill_switch"),
        ({"guard": {"proceed": False, "guard": "silence", "reason": "x"}}, None, ["ops"],
         "silence"),
        ({"guard": {"proceed": False, "guard": "dry_run", "reason": "x"}}, "P4", ["ops"],
         "dry_run"),
        ({"refused": _caught("maintenance_window: until 16:00; not done: x")}, None,
         ["ops", "l1"], "maintenance_window"),
    ],
)  # fmt: skip
def test_the_escalation_pages_a_refusal_by_the_rule(
    make_pipeline: Any,
    state: dict[str, Any],
    severity: str | None,
    levels: list[str],
    guard: str,
) -> None:
    """An escalation of SKIPPED_BY_GUARD names no levels: the rule gives them."""
    p: Pipeline = make_pipeline()
    event: dict[str, Any] = {
        "automation": "freeze_ingestion",
        "outcome": "SKIPPED_BY_GUARD",
        "executionId": "arn:exec:2",
        "state": state,
    }
    if severity:
        event["severity"] = severity
    out = p.lambdas.handler_for("escalate")(event, None)
    assert out["levels"] == levels
    told = p.notifications()
    assert [n["level"] for n in told] == levels
    assert all(n["message"]["refusal"]["guard"] == guard for n in told)
