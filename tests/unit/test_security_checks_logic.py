"""The security checks' decisions at their edges (the workflow tests run them end to end):
the 24-hour window's bounds, the 90-day rule's boundary, what counts as open to the
internet, and that a check that did not run is never "nothing found"."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from selfheal_shared.core.outcomes import Outcome
from selfheal_shared.platform import security_checks as sc

END = datetime(2027, 3, 10, 10, 0, tzinfo=UTC)
START = END - timedelta(hours=24)


def _event(name: str, at: datetime) -> dict[str, object]:
    params = {"roleName": "r", "policyArn": "arn:aws:iam::1:policy/p"}
    return {
        "EventName": name,
        "EventTime": at,
        "EventId": name + at.isoformat(),
        "Username": "ana",
        "CloudTrailEvent": json.dumps({"requestParameters": params}),
    }


def test_policy_changes_inside_the_window_only_and_only_policy_calls() -> None:
    events = [
        _event("AttachRolePolicy", START - timedelta(seconds=1)),
        _event("AttachRolePolicy", START),
        _event("PutRolePolicy", END),
        _event("ListRoles", END - timedelta(hours=1)),  # reads are not changes
    ]
    found = sc.policy_changes(events, sc.settings().policyEvents, START, END)
    assert [(f["event"], f["at"]) for f in found] == [
        ("AttachRolePolicy", START.isoformat()),
        ("PutRolePolicy", END.isoformat()),
    ]
    assert found[0]["target"] == "role r" and found[0]["by"] == "ana"


def test_keys_older_than_90_days_only_and_masked() -> None:
    keys = [
        {
            "UserName": "a",
            "AccessKeyId": "AKIAAAAAAAAAAAAA1234",
            "CreateDate": END - timedelta(days=90),
        },
        {
            "UserName": "b",
            "AccessKeyId": "AKIABBBBBBBBBBBB5678",
            "CreateDate": END - timedelta(days=91),
        },
    ]
    [old] = sc.old_keys(keys, END, 90)
    assert old["user"] == "b" and old["accessKey"] == "AKIA…5678" and old["ageDays"] == 91


def test_open_ingress_is_the_whole_internet_on_ipv4_or_ipv6() -> None:
    groups = [
        {
            "GroupId": "sg-1",
            "IpPermissions": [
                {"IpProtocol": "-1", "IpRanges": [{"CidrIp": "0.0.0.0/0"}]},
                {
                    "IpProtocol": "tcp",
                    "FromPort": 80,
                    "ToPort": 81,
                    "Ipv6Ranges": [{"CidrIpv6": "::/0"}],
                },
                {
                    "IpProtocol": "tcp",
                    "FromPort": 22,
                    "ToPort": 22,
                    "IpRanges": [{"CidrIp": "0.0.0.0/1"}],
                },
            ],
        }
    ]
    found = sc.open_ingress(groups)
    assert [(f["ports"], f["source"]) for f in found] == [
        ("all", "0.0.0.0/0"),
        ("80-81", "::/0"),
        ("22", "0.0.0.0/1"),  # half the internet is open too
    ]


def test_a_public_8_or_wider_is_open_a_private_range_is_not() -> None:
    assert sc.is_open("128.0.0.0/1") and sc.is_open("3.0.0.0/8") and sc.is_open("2000::/3")
    assert not sc.is_open("3.0.0.0/9") and not sc.is_open("10.0.0.0/8")
    assert not sc.is_open("fc00::/7") and not sc.is_open("2001:db8::/32")


def test_a_check_that_did_not_run_is_never_nothing_found() -> None:
    ran = sc.Result(check="old_access_keys", ran=True)
    missing = sc.not_run("iam_policy_changes", "AccessDenied: no")
    assert sc.outcome([ran]) == Outcome.NO_ACTION_NEEDED
    assert sc.outcome([ran, missing]) == Outcome.FAILED
    report = sc.report([ran, missing], START, END, [])
    assert report["notRun"] == ["iam_policy_changes"] and "nothing found" not in report["text"]


def test_a_capped_check_counts_what_it_does_not_show() -> None:
    full = sc.Result(
        check="security_logs", ran=True, findings=[{"n": i} for i in range(30)], omitted=5
    )
    shown = sc.capped(full, 25)
    assert len(shown.findings) == 25 and shown.omitted == 10 and shown.found == full.found == 35
    assert sc.capped(full, 40) == full


def test_a_refused_iam_call_is_an_attempt_not_a_change() -> None:
    event = _event("AttachRolePolicy", END - timedelta(hours=1))
    event["CloudTrailEvent"] = json.dumps(
        {"errorCode": "AccessDenied", "requestParameters": {"roleName": "r"}}
    )
    [found] = sc.policy_changes([event, event], sc.settings().policyEvents, START, END)
    assert found["refused"] == "AccessDenied"  # the same event from two lookups: once
    assert sc.line(found, "iam_policy_changes").endswith(
        "attempted, refused (AccessDenied); nothing changed"
    )


def test_iam_events_are_read_in_the_partitions_first_region() -> None:
    assert sc.iam_events_region("sa-east-1") == "us-east-1"
    assert sc.iam_events_region("cn-northwest-1") == "cn-north-1"
    assert sc.iam_events_region("us-gov-east-1") == "us-gov-west-1"
