"""What a real page says (issue 23 item 4) and the post-incident record of a page chain
(item 5), through the service_recovery workflow on runbook 003's ladder: the pages SNS
delivered to the subscriber, and the per-protocol texts SNS was given for e-mail and SMS."""

from __future__ import annotations

import json
from typing import Any

from moto.sns.models import sns_backends

from local import iam_roles
from local.host import REGION
from local.runtime import Pipeline
from local.worlds.services import ServiceSim
from tests.helpers import SAMPLES, load_event
from tests.workflow.services.conftest import pages

INFERENCE = SAMPLES / "service_recovery.inference_health_alarm.json"
SECRET = "hunter2-never-in-a-page"


def published(p: Pipeline, level: str) -> list[dict[str, str]]:
    """The per-protocol messages (`default`, `email`, `sms`) published to `level`'s topic."""
    topic = sns_backends[iam_roles.ACCOUNT][REGION].topics[p.topics[level]]
    return [json.loads(message) for _id, message, *_rest in topic.sent_notifications]


def test_a_delivered_page_carries_the_full_content_and_sms_gets_one_short_line(
    pipeline: Pipeline, sim: ServiceSim
) -> None:
    """Runbook 003 §4.1: the restart did not help; the L1 page at 15 min reaches the HTTP
    subscriber with everything (runbook section, what was found and done, the log lines,
    redacted), the e-mail gets the readable text and the SMS one line with how to ack."""
    sim.start_all()
    sim.restart_does_not_help("inference", f"model v7 missing; DB_PASSWORD={SECRET}")
    sim.stop("inference")
    [run] = pipeline.run_event(load_event(INFERENCE), timeout=240)

    assert run["error"] == "selfheal.NotFixed", run
    first: dict[str, Any] = pages(pipeline)[0]
    assert first["level"] == "l1"
    message = first["message"]
    incident = message["incidentId"]
    assert message["incident"]["runbook"] == "003 4.1 service_recovery - face_analyzer"
    assert any(d.startswith("restart_service: ") for d in message["done"]), message["done"]
    assert "model v7 missing" in message["reason"] and SECRET not in json.dumps(message)
    assert message["kind"] == "page" and message["who"] == "Ops"

    [l1] = [m for m in published(pipeline, "l1") if json.loads(m["default"])["kind"] == "page"]
    assert json.loads(l1["default"]) == message, "HTTP gets exactly the default JSON"
    assert len(l1["sms"]) <= 140 and l1["sms"].endswith(f"ack: selfheal ack {incident}")
    assert l1["sms"].startswith("SEV-2 inference: ")
    email = l1["email"]
    assert "Runbook: 003 4.1 service_recovery - face_analyzer" in email
    assert "Level: l1 (Ops)" in email and "System: inference" in email
    assert "Done by selfheal (as recorded):\n- " in email and "restart_service: " in email
    assert "outcome NOT_FIXED: the problem is not fixed by selfheal" in email
    assert f"Next step: take it: selfheal ack {incident} --by <you>" in email
    assert "model v7 missing" in email and SECRET not in email
