"""Channels by severity (runbook 003 §7.2: SMS critical, e-mail critical/high, Slack
critical/high/medium): every page carries its severity as an SNS attribute, and a subscriber
with `severities` is subscribed with the filter policy the stacks give it. Delivered by
moto's SNS to real HTTP endpoints: the runtime's receiver takes everything, the filtered one
only what its policy lets through."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import boto3
import pytest
from moto import mock_aws
from selfheal_cdk.spec import ROOT
from selfheal_cdk.subscriptions import load
from selfheal_shared.core import (
    clients,
    clock,
    escalation_policy,
    notify,
    page_chain,
    page_severity,
)

from local.page_receiver import PageReceiver
from tests.helpers import paging_tables

START = datetime(2026, 11, 20, 15, 0, tzinfo=UTC)
EXAMPLE = ROOT / "config" / "subscriptions.example.json"
REPOSITORY = ROOT / "events" / "escalation"
[SMS] = [s for s in load(EXAMPLE).levels["l1"] if s.protocol == "sms"]


class Receivers:
    def __init__(self, everything: PageReceiver, sms: PageReceiver) -> None:
        self.everything = everything
        self.sms = sms

    @staticmethod
    def subjects(receiver: PageReceiver) -> list[str]:
        return [d["subject"] for d in receiver.received()]


@pytest.fixture
def receivers(monkeypatch: pytest.MonkeyPatch) -> Iterator[Receivers]:
    with PageReceiver().running() as everything, PageReceiver().running() as sms, mock_aws():
        monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
        clients.reset()
        paging_tables(monkeypatch)
        sns = boto3.client("sns", region_name="us-east-1")
        for level in ("ops", "l1", "l2", "l3", "l4"):
            arn = sns.create_topic(Name=level)["TopicArn"]
            # The runtime's receiver: subscribed to everything (local/runtime.py).
            sns.subscribe(TopicArn=arn, Protocol="http", Endpoint=everything.url(level))
            monkeypatch.setenv(f"SELFHEAL_TOPIC_{level.upper()}", arn)
            if level == "l1":  # the example's SMS subscriber, with the stacks' filter policy
                sns.subscribe(
                    TopicArn=arn,
                    Protocol="http",
                    Endpoint=sms.url(level),
                    Attributes={"FilterPolicy": json.dumps(SMS.filter_policy())},
                )
        clock.install(lambda: START)
        try:
            yield Receivers(everything, sms)
        finally:
            clock.install(None)
            clients.reset()


def _page(incident: str, *, system: str, severity: str, own: str | None = None) -> None:
    """L1's page of a chain, as the workflows send it (`page_chain.page` -> `notify.publish`);
    `own`: the incident's own severity (a service's SEV-n under a one-ladder policy)."""
    chain = page_chain.open_chain(incident, system=system, severity=severity, started=START)
    message = {"incidentId": incident, **({"incident": {"severity": own}} if own else {})}
    assert page_chain.page(chain, "l1", subject=incident, message=message)


def test_the_sms_subscriber_gets_critical_pages_and_no_medium_one(receivers: Receivers) -> None:
    assert SMS.severities == ["P1", "SEV-1"], "the example's SMS is 003 §7.2's: critical only"
    # The inference service (runbook 003's one ladder) with its incident's own severity.
    _page("inference-critical", system="big-brother", severity="incident", own="SEV-1")
    _page("inference-medium", system="big-brother", severity="incident", own="SEV-3")
    # Runbook 000's graded ladders: P1 is critical, P3 medium.
    _page("battery-p1", system="lifo4-ems", severity="P1")
    _page("edge-p3", system="lifo4-ems", severity="P3")

    assert receivers.subjects(receivers.sms) == ["inference-critical", "battery-p1"]
    assert receivers.subjects(receivers.everything) == [
        "inference-critical",
        "inference-medium",
        "battery-p1",
        "edge-p3",
    ], "the runtime's receiver still gets every page"


def test_a_notice_without_a_severity_still_reaches_a_filtered_subscriber(
    receivers: Receivers,
) -> None:
    # An escalation that knows no severity (a workflow's FAILED), and a one-ladder chain page
    # whose incident names none: its `incident` is a ladder, not a grade.
    notify.publish("l1", subject="failed", message={"outcome": "FAILED", "reason": "boom"})
    _page("aupus-unrated", system="aupus-ingestion", severity="incident")

    assert receivers.subjects(receivers.sms) == ["failed", "aupus-unrated"]
    assert receivers.subjects(receivers.everything) == ["failed", "aupus-unrated"]


def test_the_attribute_is_the_grade_the_page_shows() -> None:
    assert page_severity.of({"severity": "incident", "incident": {"severity": "SEV-2"}}) == "SEV-2"
    assert page_severity.of({"severity": "P2"}) == "P2"
    assert page_severity.of({"severity": "incident"}) is None, "a ladder name is no grade"
    assert page_severity.of({"incident": {"severity": "SEV-9"}, "severity": "P4"}) == "P4"
    assert page_severity.attributes({"outcome": "FIXED"}) == {}


def test_in_aws_the_grades_come_from_the_layers_copy_of_the_policies(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A function reads the policies the CDK staged into the layer (the repository's
    `events/escalation/` is not in the bundle), so the attribute is set there too."""
    staged = tmp_path / "escalation"
    staged.mkdir()
    (staged / "lifo4-ems.json").write_text((REPOSITORY / "lifo4-ems.json").read_text())
    monkeypatch.setattr(escalation_policy, "PACKAGED", staged)
    monkeypatch.setattr(escalation_policy, "REPOSITORY", tmp_path / "not-deployed")
    escalation_policy.load.cache_clear()
    page_severity.grades.cache_clear()
    try:
        assert escalation_policy.systems() == ["lifo4-ems"]
        assert page_severity.grades() == {"P1", "P2", "P3", "P4"}
        assert page_severity.of({"severity": "P2"}) == "P2"
    finally:
        escalation_policy.load.cache_clear()
        page_severity.grades.cache_clear()


def test_a_resolve_goes_by_the_channels_its_page_went_by(receivers: Receivers) -> None:
    """The SMS that got the P1 page gets its resolve; the P3's resolve does not wake it."""
    _page("battery-p1", system="lifo4-ems", severity="P1")
    _page("edge-p3", system="lifo4-ems", severity="P3")
    for incident in ("battery-p1", "edge-p3"):
        assert page_chain.close(incident, subject=f"resolved {incident}", message={}) == ["l1"]

    assert receivers.subjects(receivers.sms) == ["battery-p1", "resolved battery-p1"]
    assert len(receivers.subjects(receivers.everything)) == 4
