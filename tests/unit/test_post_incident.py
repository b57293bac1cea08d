"""The post-incident record of a closed page chain (issue 23 item 5; runbook 004
"Checklist Pós-Incidente"): times of each level, the acknowledgement, the downtime, data
lost and root cause as the workflow reported them, and the post-mortem flag above 1 h."""

from __future__ import annotations

from typing import Any

from selfheal_shared.core import page_text, post_incident

START = "2026-11-20T15:00:00+00:00"


def record(resolved: str, message: dict[str, Any], **chain: Any) -> dict[str, Any]:
    return post_incident.build(
        incident_id="i-1",
        system="big-brother",
        severity="incident",
        started_at=START,
        paged=chain.get(
            "paged", {"l2": "2026-11-20T15:30:00+00:00", "l1": "2026-11-20T15:15:00+00:00"}
        ),
        acknowledged_by=chain.get("by"),
        acknowledged_at=chain.get("at"),
        resolved_at=resolved,
        message=message,
    )


def test_levels_acknowledgement_and_downtime_in_minutes_after_the_start() -> None:
    rec = record(
        "2026-11-20T15:45:00+00:00",
        {"reason": "the service answers again"},
        by="maria",
        at="2026-11-20T15:20:30+00:00",
    )

    assert rec["levelsPaged"] == [
        {"level": "l1", "at": "2026-11-20T15:15:00+00:00", "minutesAfterStart": 15.0},
        {"level": "l2", "at": "2026-11-20T15:30:00+00:00", "minutesAfterStart": 30.0},
    ]
    assert rec["acknowledgement"] == {
        "by": "maria",
        "at": "2026-11-20T15:20:30+00:00",
        "minutesAfterStart": 20.5,
    }
    assert rec["downtimeMinutes"] == 45.0 and rec["postMortem"] is False
    assert rec["dataLost"] == "not measured"
    assert rec["rootCause"] == "not identified (closed because: the service answers again)"
    assert post_incident.summary(rec) == (
        "down 45 min; paged l1, l2; acknowledged by maria; post-mortem not needed"
    )


def test_a_post_mortem_only_above_one_hour_of_downtime() -> None:
    assert record("2026-11-20T16:00:00+00:00", {})["postMortem"] is False  # exactly 1 h
    assert record("2026-11-20T16:00:06+00:00", {})["postMortem"] is True


def test_measurements_and_cause_are_found_where_the_workflow_put_them() -> None:
    message = {
        "reason": "the service answers again",
        "doneBeforeStopping": {"check": {"rootCause": "face_analyzer config broken"}},
        "incident": {"samplesLost": 42},
    }

    rec = record("2026-11-20T15:45:00+00:00", message)

    assert rec["rootCause"] == "face_analyzer config broken"
    assert rec["dataLost"] == "42 samples"
    assert (
        record("2026-11-20T15:45:00+00:00", {"dataLost": "3 h of readings"})["dataLost"]
        == "3 h of readings"
    )


def test_the_resolve_email_carries_the_record_and_asks_for_the_post_mortem() -> None:
    rec = record("2026-11-20T17:00:00+00:00", {"cause": "disk full"})
    text = page_text.email(
        "[selfheal] RESOLVED x", {"kind": "resolve", "incidentId": "i-1", "postIncident": rec}
    )

    assert "- downtime: 120.0 min" in text and "- root cause: disk full" in text
    assert "- paged: l1 at 15 min, l2 at 30 min" in text and "- acknowledged: no" in text
    assert "Next step: schedule the post-mortem (down more than 1 h" in text


def test_a_persons_resolve_keeps_what_they_stated_as_theirs_and_leaves_the_rest() -> None:
    """A person's cause, downtime and data lost replace the workflow's, each marked as
    stated by them (never as found by the automation); what they did not give is left in
    `forPeople`; no cause at all says so and leaves the root cause to people."""
    found = {"reason": "nobody confirmed within 24 h", "rootCause": "BMS reported E-Stop"}
    rec = post_incident.build(
        incident_id="i-1",
        system="lifo4-ems",
        severity="P1",
        started_at=START,
        paged={"l1": START},
        acknowledged_by=None,
        acknowledged_at=None,
        resolved_at="2026-11-21T15:00:00+00:00",
        message=found,
        by_person=post_incident.ByPerson(by="ana", cause="cabinet door switch", data_lost="none"),
    )
    assert (rec["resolvedBy"], rec["rootCause"], rec["dataLost"]) == (
        "ana",
        "cabinet door switch",
        "none",
    )
    assert rec["statedBy"] == {"rootCause": "ana", "dataLost": "ana"}
    # 24 h from the alarm to the resolve is how long the chain was open, not a downtime
    # anyone measured: neither it nor the post-mortem it would decide is reported as fact.
    assert rec["downtimeMinutes"] is None and rec["postMortem"] is None
    assert rec["forPeople"]["downtimeMinutes"] is None and rec["forPeople"]["postMortem"] is None
    assert "dataLost" not in rec["forPeople"] and "rootCause" not in rec["forPeople"]
    assert post_incident.summary(rec).endswith("; resolved by ana")
    silent = post_incident.build(
        incident_id="i-1",
        system="lifo4-ems",
        severity="P1",
        started_at=START,
        paged={"l1": START},
        acknowledged_by=None,
        acknowledged_at=None,
        resolved_at="2026-11-20T15:30:00+00:00",
        message=found,
        by_person=post_incident.ByPerson(by="Ana (via pagerduty)", no_cause="no cause given"),
    )
    assert silent["rootCause"] == "not identified (no cause given)" and silent["statedBy"] == {}
    assert silent["forPeople"]["rootCause"] is None and silent["forPeople"]["dataLost"] is None
    assert automation_only(found)["rootCause"] == "BMS reported E-Stop"
    assert "resolvedBy" not in automation_only(found), "an automation's close is unchanged"


def automation_only(message: dict[str, Any]) -> dict[str, Any]:
    return record("2026-11-20T15:45:00+00:00", message)
