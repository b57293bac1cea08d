"""Runbook 003 §7.2's channels by severity (e-mail critical/high, Slack critical/high/medium,
SMS critical) through the real workflow: the example configuration's L1 e-mail and SMS
subscribers, subscribed to the pipeline's L1 topic with the filter policies the stacks give
them (`Subscriber.filter_policy`), beside the runtime's receiver that takes everything. The
example reads critical as SEV-1/P1 and high as SEV-2/P2."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from selfheal_cdk.spec import ROOT
from selfheal_cdk.subscriptions import Subscriber, load

from local.page_receiver import PageReceiver
from local.runtime import Pipeline
from local.worlds.services import ServiceSim
from tests.helpers import SAMPLES, load_event
from tests.workflow.services.conftest import pages

API = SAMPLES / "service_recovery.api_health_alarm.json"
INFERENCE = SAMPLES / "service_recovery.inference_health_alarm.json"
L1 = load(ROOT / "config" / "subscriptions.example.json").levels["l1"]
[EMAIL] = [s for s in L1 if s.protocol == "email"]
[SMS] = [s for s in L1 if s.protocol == "sms"]


@contextmanager
def subscribed(p: Pipeline, level: str, who: Subscriber) -> Iterator[PageReceiver]:
    """A second HTTP endpoint on `level`'s topic with `who`'s filter policy."""
    with PageReceiver().running() as receiver:
        p.client("sns").subscribe(
            TopicArn=p.topics[level],
            Protocol="http",
            Endpoint=receiver.url(level),
            Attributes={"FilterPolicy": json.dumps(who.filter_policy())},
        )
        yield receiver


def subjects(receiver: PageReceiver) -> list[str]:
    return [d["subject"] for d in receiver.received()]


@pytest.mark.procedure(
    "B5", "channels by severity (003 §7.2): SMS critical only, e-mail critical and high"
)
def test_the_inference_services_high_page_goes_by_e_mail_not_by_sms(
    pipeline: Pipeline, sim: ServiceSim
) -> None:
    """The inference service down (SEV-2, high) and a restart that does not help: its L1 page
    reaches the e-mail subscriber (critical/high) and not the SMS one (critical only)."""
    sim.start_all()
    sim.restart_does_not_help("inference", "model file missing")
    sim.stop("inference")
    with subscribed(pipeline, "l1", EMAIL) as email, subscribed(pipeline, "l1", SMS) as sms:
        [run] = pipeline.run_event(load_event(INFERENCE), timeout=240)

    assert run["error"] == "selfheal.NotFixed", run
    [l1] = [p for p in pages(pipeline) if p["level"] == "l1"]
    assert l1["message"]["incident"]["severity"] == "SEV-2"
    assert l1["subject"] in subjects(email)
    assert l1["subject"] not in subjects(sms)
    assert not [s for s in subjects(sms) if "ESCALATION" in s], "no page of it by SMS"


@pytest.mark.procedure(
    "B5", "channels by severity (003 §7.2): SMS critical only, e-mail critical and high"
)
def test_a_critical_page_goes_by_sms_and_by_e_mail(pipeline: Pipeline, sim: ServiceSim) -> None:
    """The equivalence API down behind its database (SEV-1, critical): people are paged, and
    the L1 page reaches both the SMS and the e-mail subscriber."""
    sim.start_all()
    sim.stop("postgres")
    with subscribed(pipeline, "l1", EMAIL) as email, subscribed(pipeline, "l1", SMS) as sms:
        [run] = pipeline.run_event(load_event(API))

    assert run["error"] == "selfheal.NotFixed", run
    [l1] = [p for p in pages(pipeline) if p["level"] == "l1"]
    assert l1["message"]["incident"]["severity"] == "SEV-1"
    assert l1["subject"] in subjects(sms)
    assert l1["subject"] in subjects(email)
