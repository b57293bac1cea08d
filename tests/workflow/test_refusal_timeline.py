"""The timeline says why a guard refused (issue 22, finding 13): the line of a refused
action names the guard, its reason and what was not done, in `selfheal replay`'s timeline;
a kill switch put by hand without a reason still says who and that none was given."""

from __future__ import annotations

from typing import Any

from local.runtime import Pipeline
from local.timeline import render


def refusal_lines(p: Pipeline, run: dict[str, Any]) -> list[str]:
    text = render(p, [run], p.journal[0].at)
    return [line for line in text.splitlines() if "SKIPPED_BY_GUARD -" in line]


def test_a_cooldown_refusal_names_the_guard_and_its_reason_on_its_line(
    pipeline: Pipeline, alarm_event: dict[str, Any]
) -> None:
    pipeline.run_event(alarm_event)
    pipeline.clock.advance(10 * 60)
    pipeline.world.deploy(pipeline, "orders-api", healthy=False)  # a new bad release: v4
    [arn] = pipeline.set_alarm_state("orders-api-errors", "ALARM", "errors after v4")
    pipeline.wait([arn])
    run = pipeline.execution_summary(arn)

    [line] = refusal_lines(pipeline, run)
    assert "OUTCOME  rollback_on_5xx: SKIPPED_BY_GUARD - cooldown refused: " in line, line
    assert "already acted on orders-api in the last 30 min" in line, line
    assert "the incident stays open and is paged on its clock" in line, line


def test_a_kill_switch_put_by_hand_without_a_reason_says_so(
    pipeline: Pipeline, alarm_event: dict[str, Any]
) -> None:
    """What `aws dynamodb put-item` leaves when an operator flips the switch by hand: no
    reason. The refusal's line still names the guard and says no reason was recorded."""
    from selfheal_shared.core.config import settings

    pipeline.client("dynamodb").put_item(
        TableName=settings().guard_table,
        Item={"pk": {"S": "kill-switch"}, "enabled": {"BOOL": True}, "actor": {"S": "ana"}},
    )
    [run] = pipeline.run_event(alarm_event)

    [line] = refusal_lines(pipeline, run)
    assert "rollback_on_5xx: SKIPPED_BY_GUARD - kill_switch refused: kill switch on: " in line
    assert "no reason recorded (by ana)" in line, line
