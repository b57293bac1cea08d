"""What a page says (issue 23 item 4): one short SMS line, the full text by e-mail, the full
JSON to HTTP/HTTPS subscribers, log excerpts redacted in every one of them."""

from __future__ import annotations

import json
from collections.abc import Iterator

import boto3
import pytest
from moto import mock_aws
from selfheal_shared.core import page_text

from local.page_receiver import PageReceiver

INCIDENT = "service_recovery-inference-2026-11-20T15:00:00Z"
SECRET = "DB_PASSWORD=hunter2-very-secret"
PAGE = {
    "kind": "page",
    "incidentId": INCIDENT,
    "dedupKey": INCIDENT,
    "level": "l2",
    "who": "Eng",
    "severity": "incident",
    "automation": "service_recovery",
    "outcome": "NOT_FIXED",
    "runbook": "003 §4.1 Serviços (restart_service, verify_health)",
    "incident": {"service": "inference", "severity": "incident"},
    "reason": "restart of inference failed; log lines of inference: "
    + SECRET
    + " CUDA error: out of memory "
    + "x" * 400,
    "logs": ["boot ok", f"connect failed {SECRET}", "mail ops@example.com"],
    "done": ["restart_service: restart of inference failed (systemctl)"],
    "undo": ["none: a restart changes no state to put back"],
}
SUBJECT = "[selfheal] incident service_recovery: NOT_FIXED " + "very long summary " * 20


def test_the_sms_is_one_short_line_naming_severity_target_and_how_to_ack() -> None:
    line = page_text.sms(SUBJECT, PAGE)

    assert len(line) <= page_text.SMS_MAX and "\n" not in line
    assert line.startswith("incident inference: incident service_recovery: NOT_FIXED very")
    assert line.endswith(f"... | ack: selfheal ack {INCIDENT}")


def test_a_resolve_sms_says_resolved_and_asks_no_ack() -> None:
    line = page_text.sms("[selfheal] RESOLVED x", {**PAGE, "kind": "resolve"})

    assert line == f"RESOLVED inference: RESOLVED x | {INCIDENT}"


def test_a_notice_outside_a_page_chain_offers_no_ack_it_would_refuse() -> None:
    notice = {"incidentId": "i-9", "outcome": "FIXED", "automation": "rollback_on_5xx"}

    assert page_text.sms("[selfheal] rollback_on_5xx: FIXED", notice) == (
        "FIXED rollback_on_5xx: rollback_on_5xx: FIXED | i-9"
    )


def test_the_email_has_every_part_of_the_page_with_logs_redacted() -> None:
    text = page_text.email(SUBJECT, PAGE)

    assert "hunter2" not in text and "ops@example.com" not in text
    assert "DB_PASSWORD=[secret]" in text and "mail [email]" in text
    assert "Runbook: 003 §4.1 Serviços (restart_service, verify_health)" in text
    assert "Severity: incident" in text and "System: inference" in text
    assert "- restart_service: restart of inference failed (systemctl)" in text
    assert "Undo:\n- none: a restart changes no state to put back" in text
    assert "- outcome NOT_FIXED: the problem is not fixed by selfheal" in text
    assert f"Next step: take it: selfheal ack {INCIDENT} --by <you>" in text
    assert "Log excerpts (redacted):" in text and "CUDA error: out of memory" in text


def test_the_default_json_keeps_every_key_and_redacts_the_logs() -> None:
    structure = json.loads(page_text.structured(SUBJECT, PAGE))

    assert set(structure) == {"default", "email", "sms"}
    default = json.loads(structure["default"])
    assert set(default) == set(PAGE)
    assert {k: v for k, v in default.items() if k not in ("reason", "logs")} == {
        k: v for k, v in PAGE.items() if k not in ("reason", "logs")
    }
    assert "hunter2" not in structure["default"] and "DB_PASSWORD=[secret]" in default["reason"]
    assert default["logs"] == ["boot ok", "connect failed DB_PASSWORD=[secret]", "mail [email]"]


def test_nothing_recorded_is_said_as_nothing_not_invented() -> None:
    text = page_text.email("[selfheal] x", {"incidentId": "i-1", "outcome": "FIXED"})

    assert "Done by selfheal (as recorded):\n- nothing recorded" in text
    assert "Runbook: not named by the workflow" in text
    assert "Not done by selfheal:\n- nothing reported" in text


def test_a_large_page_stays_one_publish_the_email_leaving_its_copy_of_the_json() -> None:
    big = {**PAGE, "edges": [f"edge-{i:05d}" for i in range(9000)]}

    structure = page_text.structured(SUBJECT, big)

    assert len(structure.encode()) <= page_text.PUBLISH_MAX_BYTES
    parsed = json.loads(structure)
    assert json.loads(parsed["default"])["edges"][-1] == "edge-08999"
    assert "Full message: too long for one e-mail" in parsed["email"]
    assert "Runbook: 003" in parsed["email"]


@pytest.fixture
def receiver() -> Iterator[PageReceiver]:
    with PageReceiver().running() as r, mock_aws():
        yield r


def test_an_http_subscriber_gets_the_default_json_of_a_structured_publish(
    receiver: PageReceiver,
) -> None:
    """SNS (and moto: `structured_message.get(protocol) or ["default"]`) delivers an HTTP
    subscription its `http` key when there is one, else `default`."""
    sns = boto3.client("sns", region_name="us-east-1")
    topic = sns.create_topic(Name="l1")["TopicArn"]
    sns.subscribe(TopicArn=topic, Protocol="http", Endpoint=receiver.url("l1"))

    sns.publish(
        TopicArn=topic,
        Subject="P1",
        MessageStructure="json",
        Message=page_text.structured(SUBJECT, PAGE),
    )

    [page] = receiver.received()
    assert json.loads(page["message"])["incidentId"] == INCIDENT
    assert json.loads(page["message"])["runbook"] == PAGE["runbook"]
