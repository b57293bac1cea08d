"""What a real page says (issue 23 item 4) and the post-incident record of a page chain
(item 5), through the service_recovery workflow on runbook 003's ladder: the pages SNS
delivered to the subscriber, and the per-protocol texts SNS was given for e-mail and SMS."""

from __future__ import annotations

import json
from typing import Any

from moto.sns.models import sns_backends
from selfheal_shared.core import page_chain, post_incident

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


def post_incident_records(p: Pipeline) -> list[dict[str, Any]]:
    return [
        dict(json.loads(r["details"]))
        for r in p.audit_records()
        if r["action"] == post_incident.ACTION
    ]


def fixed_by_hand_at_recheck(p: Pipeline, sim: ServiceSim, n: int) -> None:
    """People fix the service before the `n`th recheck (runbook 003's ladder looks again at
    15, 30, 60 and 120 minutes)."""
    rechecks: list[str] = []

    def ops(name: str, event: Any) -> None:
        if name == "service_check" and event.get("step") == "recheck":
            rechecks.append(p.clock.now().isoformat())
            if len(rechecks) == n:
                sim.fixed_by_hand("inference")

    p.lambdas.before_invoke.append(ops)


def test_a_closed_chain_leaves_one_post_incident_record_and_the_resolve_carries_it(
    pipeline: Pipeline, sim: ServiceSim
) -> None:
    """L1 paged at 15 min fixes it; the 30-min recheck finds it back and closes the chain:
    the record says L1 at 15, nobody acknowledged, 30 min down, the cause the check found,
    no data measured, no post-mortem (runbook 004: only above 1 h); written once, a second
    close writes nothing more."""
    sim.start_all()
    sim.restart_does_not_help("inference", "model file missing")
    sim.stop("inference")
    fixed_by_hand_at_recheck(pipeline, sim, 2)
    [run] = pipeline.run_event(load_event(INFERENCE), timeout=240)

    assert run["error"] == "selfheal.NotFixed", run
    [record] = post_incident_records(pipeline)
    incident = record["incidentId"]
    assert [(p["level"], p["minutesAfterStart"]) for p in record["levelsPaged"]] == [("l1", 15.0)]
    assert record["acknowledgement"] is None
    assert record["downtimeMinutes"] == 30.0 and record["postMortem"] is False
    assert record["dataLost"] == "not measured"
    check = [r for r in pipeline.audit_records() if r["action"] == "post_incident_record"]
    assert record["rootCause"] == json.loads(check[0]["details"])["rootCause"] != ""
    chain = page_chain.get(incident)
    assert chain is not None and record["resolvedAt"] == chain.resolvedAt
    [resolve] = [n for n in pipeline.notifications() if n["message"].get("kind") == "resolve"]
    assert resolve["level"] == "l1" and resolve["message"]["postIncident"] == record

    assert page_chain.close(incident, subject="again", message={"reason": "retry"}) == []
    assert post_incident_records(pipeline) == [record], "written once"


def test_more_than_an_hour_down_flags_a_post_mortem(pipeline: Pipeline, sim: ServiceSim) -> None:
    """Fixed only after L3's page at 60 min: the 120-min recheck closes the chain, 120 min
    down, L1-L3 at 15/30/60 (L4 never paged), and runbook 004's "Post-mortem agendado? (se
    > 1h downtime)" is flagged in the record and in each level's resolve."""
    sim.start_all()
    sim.restart_does_not_help("inference", "model file missing")
    sim.stop("inference")
    fixed_by_hand_at_recheck(pipeline, sim, 4)
    [run] = pipeline.run_event(load_event(INFERENCE), timeout=240)

    assert run["error"] == "selfheal.NotFixed", run
    [record] = post_incident_records(pipeline)
    assert [(p["level"], p["minutesAfterStart"]) for p in record["levelsPaged"]] == [
        ("l1", 15.0),
        ("l2", 30.0),
        ("l3", 60.0),
    ]
    assert record["downtimeMinutes"] == 120.0 and record["postMortem"] is True
    resolves = [n for n in pipeline.notifications() if n["message"].get("kind") == "resolve"]
    assert [n["level"] for n in resolves] == ["l1", "l2", "l3"]
    assert all(n["message"]["postIncident"]["postMortem"] is True for n in resolves)
    [email] = [
        m["email"]
        for m in published(pipeline, "l3")
        if json.loads(m["default"])["kind"] == "resolve"
    ]
    assert "Next step: schedule the post-mortem (down more than 1 h" in email
