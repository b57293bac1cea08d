"""Guards (kill switch → maintenance → dry-run → cooldown) and the append-only audit trail,
against the moto tables and the virtual clock the local pipeline provides."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from selfheal_shared.core import audit, guards
from selfheal_shared.core import clock as shared_clock
from selfheal_shared.core.config import settings

from local.runtime import Pipeline

AUTOMATION = "rollback_on_5xx"
RESOURCE = "orders-api"
COOLDOWN = 30


def evaluate(
    incident: str = "inc-a",
    execution: str = "exec-1",
    *,
    resource: str = RESOURCE,
    automation: str = AUTOMATION,
    dry_run_requested: bool = False,
) -> guards.GuardDecision:
    return guards.evaluate(
        automation=automation,
        resource=resource,
        incident_id=incident,
        execution_id=execution,
        cooldown_minutes=COOLDOWN,
        dry_run_requested=dry_run_requested,
    )


def cooldown_item(p: Pipeline, resource: str = RESOURCE) -> dict[str, Any] | None:
    item = (
        p.client("dynamodb")
        .get_item(
            TableName=p.tables["guard_state"],
            Key={"pk": {"S": f"cooldown#{AUTOMATION}#{resource}"}},
            ConsistentRead=True,
        )
        .get("Item")
    )
    return {k: next(iter(v.values())) for k, v in item.items()} if item else None


def maintenance(scope: str, *, starts_in: float = -60, lasts: float = 3600) -> None:
    now = shared_clock.now()
    guards.set_maintenance(
        scope,
        starts=now + timedelta(seconds=starts_in),
        ends=now + timedelta(seconds=starts_in + lasts),
        reason="planned DB failover",
    )


# -- order and the first guards ---------------------------------------------------------------


def test_all_guards_pass_and_claim_the_cooldown(pipeline: Pipeline) -> None:
    decision = evaluate()

    assert decision == guards.GuardDecision(True, None, "all guards passed", dryRun=False)
    assert decision.to_dict() == {
        "proceed": True,
        "guard": None,
        "reason": "all guards passed",
        "dryRun": False,
    }
    held = cooldown_item(pipeline)
    assert held is not None
    assert (held["incidentId"], held["executionId"]) == ("inc-a", "exec-1")
    expected = int((shared_clock.now() + timedelta(minutes=COOLDOWN)).timestamp())
    assert int(held["expiresAt"]) == expected


def test_kill_switch_wins_over_maintenance_and_dry_run(pipeline: Pipeline) -> None:
    maintenance("global")
    guards.set_switch(guards.DRY_RUN, enabled=True, reason="trial", actor="ops")
    guards.set_switch(guards.KILL_SWITCH, enabled=True, reason="bad automation day", actor="ops")

    decision = evaluate()

    assert (decision.proceed, decision.guard) == (False, "kill_switch")
    assert "bad automation day" in decision.reason
    assert decision.dryRun is False
    assert cooldown_item(pipeline) is None


def test_kill_switch_turned_off_lets_actions_through(pipeline: Pipeline) -> None:
    guards.set_switch(guards.KILL_SWITCH, enabled=True, reason="stop", actor="ops")
    assert evaluate().guard == "kill_switch"

    guards.set_switch(guards.KILL_SWITCH, enabled=False, reason="resume", actor="ops")

    assert evaluate().proceed is True


def test_unknown_switch_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown switch"):
        guards.set_switch("maintenance", enabled=True, reason="x", actor="ops")


@pytest.mark.parametrize("scope", [RESOURCE, "global"])
def test_maintenance_window_skips_until_it_ends(pipeline: Pipeline, scope: str) -> None:
    maintenance(scope, starts_in=-60, lasts=600)  # started a minute ago, ends in 9 min

    inside = evaluate("inc-a", "exec-1")
    assert (inside.proceed, inside.guard) == (False, "maintenance_window")
    assert "planned DB failover" in inside.reason
    assert cooldown_item(pipeline) is None, "a skipped action claims no cooldown"

    pipeline.clock.advance(540)  # exactly at the end: the window is half-open
    after = evaluate("inc-b", "exec-2")
    assert after.proceed is True


def test_maintenance_window_in_the_future_does_not_apply_yet(pipeline: Pipeline) -> None:
    maintenance(RESOURCE, starts_in=600, lasts=600)

    assert evaluate().proceed is True


def test_maintenance_of_another_resource_does_not_apply(pipeline: Pipeline) -> None:
    maintenance("billing-api")

    assert evaluate().proceed is True
    assert evaluate("inc-b", "exec-2", resource="billing-api").guard == "maintenance_window"


def test_maintenance_wins_over_dry_run(pipeline: Pipeline) -> None:
    maintenance(RESOURCE)

    assert evaluate(dry_run_requested=True).guard == "maintenance_window"


@pytest.mark.parametrize("scope", ["", "*", "all"])
def test_set_maintenance_refuses_wildcard_scope(scope: str) -> None:
    now = shared_clock.now()
    with pytest.raises(ValueError, match="scope"):
        guards.set_maintenance(scope, starts=now, ends=now + timedelta(hours=1), reason="x")


@pytest.mark.parametrize("length", [timedelta(0), timedelta(minutes=-5)])
def test_set_maintenance_refuses_a_window_that_ends_first(length: timedelta) -> None:
    now = shared_clock.now()
    with pytest.raises(ValueError, match="ends before it starts"):
        guards.set_maintenance(RESOURCE, starts=now, ends=now + length, reason="x")


# -- dry-run ------------------------------------------------------------------------------------


def assert_dry_run(decision: guards.GuardDecision) -> None:
    assert (decision.proceed, decision.guard, decision.dryRun) == (False, "dry_run", True)
    assert "dry-run" in decision.reason


def test_dry_run_from_the_environment(make_pipeline: Any) -> None:
    p = make_pipeline(dry_run=True)
    assert settings().dry_run is True

    assert_dry_run(evaluate())
    assert cooldown_item(p) is None, "dry-run must not claim the cooldown"


def test_dry_run_switch_records_without_claiming_the_cooldown(pipeline: Pipeline) -> None:
    guards.set_switch(guards.DRY_RUN, enabled=True, reason="trial week", actor="ops")

    assert_dry_run(evaluate("inc-a", "exec-1"))
    assert cooldown_item(pipeline) is None

    guards.set_switch(guards.DRY_RUN, enabled=False, reason="go live", actor="ops")
    # The dry run held no cooldown, so a different incident is free to act now.
    assert evaluate("inc-b", "exec-2").proceed is True


def test_dry_run_requested_by_the_caller(pipeline: Pipeline) -> None:
    assert_dry_run(evaluate("inc-a", "exec-1", dry_run_requested=True))
    assert cooldown_item(pipeline) is None
    assert evaluate("inc-b", "exec-2").proceed is True


# -- cooldown and duplicates ------------------------------------------------------------------


def test_same_execution_retrying_proceeds(pipeline: Pipeline) -> None:
    assert evaluate("inc-a", "exec-1").proceed is True

    assert evaluate("inc-a", "exec-1").proceed is True  # a Lambda retry of the same task


def test_another_execution_of_the_same_incident_is_a_duplicate(pipeline: Pipeline) -> None:
    evaluate("inc-a", "exec-1")

    decision = evaluate("inc-a", "exec-2")

    assert (decision.proceed, decision.guard) == (False, "duplicate")
    assert "exec-1" in decision.reason
    assert cooldown_item(pipeline)["executionId"] == "exec-1"  # type: ignore[index]


def test_another_incident_within_the_cooldown_is_skipped(pipeline: Pipeline) -> None:
    evaluate("inc-a", "exec-1")
    pipeline.clock.advance(29 * 60)

    decision = evaluate("inc-b", "exec-2")

    assert (decision.proceed, decision.guard) == (False, "cooldown")
    assert "inc-a" in decision.reason
    assert f"{COOLDOWN} min" in decision.reason
    assert cooldown_item(pipeline)["incidentId"] == "inc-a"  # type: ignore[index]


def test_cooldown_expires_after_its_minutes(pipeline: Pipeline) -> None:
    evaluate("inc-a", "exec-1")
    pipeline.clock.advance(COOLDOWN * 60)

    decision = evaluate("inc-b", "exec-2")

    assert decision.proceed is True
    assert cooldown_item(pipeline)["incidentId"] == "inc-b"  # type: ignore[index]
    # The old holder's retry now meets the new holder's cooldown.
    assert evaluate("inc-a", "exec-1").guard == "cooldown"


def test_cooldown_is_per_resource_and_per_automation(pipeline: Pipeline) -> None:
    evaluate("inc-a", "exec-1")

    assert evaluate("inc-b", "exec-2", resource="billing-api").proceed is True
    assert evaluate("inc-c", "exec-3", automation="restart_edge").proceed is True


@pytest.mark.parametrize("resource", ["", "*", "all"])
def test_empty_or_wildcard_resource_is_refused(pipeline: Pipeline, resource: str) -> None:
    with pytest.raises(ValueError, match="wildcard"):
        evaluate(resource=resource)
    assert cooldown_item(pipeline, resource) is None


# -- audit ----------------------------------------------------------------------------------


def write(incident: str = "inc-a", action: str = "rollback_alias", **kw: Any) -> dict[str, Any]:
    args: dict[str, Any] = {
        "incident_id": incident,
        "execution": "arn:aws:states:us-east-1:1:execution:sm:1",
        "action": action,
        "actor": "rollback_deployment",
        "why": "5xx after deploy",
        "result": "alias live: 3 -> 2",
    }
    args.update(kw)
    return audit.record(**args)


def test_record_writes_who_what_why_result_and_inverse(pipeline: Pipeline) -> None:
    inverse = {"api": "lambda:UpdateAlias", "FunctionName": "orders-api", "FunctionVersion": "3"}
    written = write(outcome="FIXED", inverse=inverse, details={"from": "3", "to": "2"})

    [row] = audit.history("inc-a")

    assert row["execution"] == "arn:aws:states:us-east-1:1:execution:sm:1"
    assert row["action"] == "rollback_alias"
    assert row["actor"] == "rollback_deployment"
    assert row["why"] == "5xx after deploy"
    assert row["result"] == "alias live: 3 -> 2"
    assert row["outcome"] == "FIXED"
    assert row["inverse"] == inverse
    assert row["details"] == {"from": "3", "to": "2"}
    assert row["at"] == shared_clock.now().isoformat(timespec="microseconds")
    assert row["seq"] == written["seq"]


def test_record_without_outcome_or_inverse(pipeline: Pipeline) -> None:
    write()

    [row] = audit.history("inc-a")

    assert "outcome" not in row
    assert row["inverse"] == {}
    assert row["details"] == {}


def test_records_accumulate_in_write_order(pipeline: Pipeline) -> None:
    write(action="rollback_alias", result="first")
    write(action="rollback_alias", result="second")  # same instant, same action
    write(action="disable_flags", result="third")
    pipeline.clock.advance(60)
    write(action="escalate", result="fourth")
    write("inc-b", result="other incident")

    rows = audit.history("inc-a")

    assert [r["result"] for r in rows] == ["first", "second", "third", "fourth"]
    assert len({r["seq"] for r in rows}) == 4
    assert [r["result"] for r in audit.history("inc-b")] == ["other incident"]
    assert audit.history("inc-none") == []


def test_a_record_is_never_overwritten(pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch) -> None:
    """Force the same sort key twice: the second write fails loudly, the first stays."""
    import uuid

    from botocore.exceptions import ClientError

    monkeypatch.setattr(shared_clock, "sequence", lambda: 7)
    monkeypatch.setattr(uuid, "uuid4", lambda: uuid.UUID(int=1))
    write(result="original")
    with pytest.raises(ClientError, match="ConditionalCheckFailed"):
        write(result="tampered", why="overwrite attempt")

    [row] = audit.history("inc-a")

    assert row["result"] == "original"
    assert row["why"] == "5xx after deploy"
