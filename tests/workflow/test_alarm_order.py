"""Alarm events in the alarm's own order (issue 22, finding 14). EventBridge does not deliver
events in order, and an alarm may recover before the workflow reads it: an ALARM whose
alarm is OK since (by `detail.state.timestamp` against the alarm's `StateUpdatedTimestamp`)
is recorded as recovered by itself, with no action and no page, instead of failing as
InputInvalid with an L2 page. Through the real rule and ASL of rollback_on_5xx."""

from __future__ import annotations

from typing import Any

import pytest

from local.replay import rebase
from local.runtime import Pipeline
from local.timeline import render

ALARM = "orders-api-errors"


def live(p: Pipeline) -> str:
    return str(
        p.client("lambda").get_alias(FunctionName="orders-api", Name="live")["FunctionVersion"]
    )


def state(p: Pipeline) -> dict[str, Any]:
    found = p.client("cloudwatch").describe_alarms(AlarmNames=[ALARM])["MetricAlarms"]
    return dict(found[0])


@pytest.mark.parametrize("ok_event", ["delivered first", "not delivered yet"])
def test_an_alarm_overtaken_by_its_ok_is_recorded_as_recovered_by_itself(
    pipeline: Pipeline, alarm_event: dict[str, Any], ok_event: str
) -> None:
    """The ALARM of t0 arrives 90 s later, after the alarm went back to OK by itself: either
    its OK event came first (out of order), or it is still on its way (the workflow reads
    an alarm that is OK already). Nothing is rolled back, nobody is paged, and the timeline
    says the alarm recovered by itself."""
    p = pipeline
    assert state(p)["StateValue"] == "ALARM"
    late = rebase(alarm_event, p.clock.now())  # the ALARM of t0, as CloudWatch wrote it
    p.clock.advance(90)
    if ok_event == "delivered first":
        p.set_alarm_state(ALARM, "OK", "errors back under the threshold")
    else:
        p.client("cloudwatch").set_alarm_state(
            AlarmName=ALARM, StateValue="OK", StateReason="errors back under the threshold"
        )
    [run] = p.run_event(late, rebase=False)

    assert run["status"] == "SUCCEEDED", run
    assert run["states"] == ["Claim", "IsDuplicate", "Duplicate"], "nothing acts"
    assert live(p) == "3", "nothing rolled back"
    [record] = [r for r in p.audit_records() if r["action"] == "alarm_recovered"]
    assert record["outcome"] == "NO_ACTION_NEEDED"
    assert f"alarm {ALARM!r} recovered by itself: OK since" in record["why"]
    assert late["detail"]["state"]["timestamp"][:19] in record["why"], "ordered by its own time"
    assert not any(r.get("outcome") == "FAILED" for r in p.audit_records()), "no InputInvalid"
    pages = [n["level"] for n in p.notifications() if n["level"] in ("l1", "l2", "l3")]
    assert pages == [], "no escalation page"
    timeline = render(p, [run], p.journal[0].at)
    assert f"alarm_recovered: NO_ACTION_NEEDED - alarm {ALARM!r} recovered by itself" in timeline


def test_the_same_alarm_in_alarm_again_is_acted_on(
    pipeline: Pipeline, alarm_event: dict[str, Any]
) -> None:
    """Ordering ignores only what the alarm's later state overtook: an ALARM of an alarm
    that is in ALARM (whatever came between) is current, and is remediated."""
    p = pipeline
    event = rebase(alarm_event, p.clock.now())
    p.clock.advance(30)
    [run] = p.run_event(event, rebase=False)

    assert run["status"] == "SUCCEEDED" and "RollBack" in run["states"], run
    assert live(p) == "2"
    assert not [r for r in p.audit_records() if r["action"] == "alarm_recovered"]
    assert [a["name"] for a in run["actions"]] == ["rollback_alias"]
