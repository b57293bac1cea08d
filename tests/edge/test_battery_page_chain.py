"""A battery P1's page chain (issue 23, runbook 000 §6 "P1 < 15 min"): L1 at once, then the
chain's watcher (`page_chain` workflow) pages L2 at 15 and L3 at 30 minutes from the alarm
while the incident's own workflow waits on a person (an E-Stop's confirmation), each page
delivered to the subscriber once under the incident's deduplication key; an acknowledgement
stops the ladder (the incident stays open); the incident's end sends one resolve to every
level paged."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

import pytest

from tests.edge.conftest import EdgeWorld
from tests.edge.test_emergency_stop import CAUSE, estop


def pages(w: EdgeWorld, kind: str = "page") -> list[dict[str, Any]]:
    return [n for n in w.pipeline.notifications() if n["message"].get("kind") == kind]


def minutes_after(page: dict[str, Any], start: datetime) -> float:
    return (datetime.fromisoformat(page["message"]["at"]) - start).total_seconds() / 60


def confirm_at(w: EdgeWorld, incident: str, minutes: float) -> None:
    """The operator's confirmation at `minutes` (what `send-task-success` does with the
    gate's token; on the clock's own thread, so it waits on nothing)."""
    from selfheal_shared.edge import edge_registry

    def confirm() -> None:
        token = str((edge_registry.get(f"gate#{incident}") or {}).get("token", ""))
        approval = {"confirmedSafe": True, "operator": "ana", "cause": CAUSE}
        w.pipeline.client("stepfunctions").send_task_success(
            taskToken=token, output=json.dumps(approval)
        )

    w.pipeline.clock.call_later(minutes * 60, confirm)


ACK = "incident.acknowledged"


def watchers(w: EdgeWorld) -> list[dict[str, Any]]:
    return w.ladders(finished=1, workflow="page_chain")


@pytest.mark.procedure("E9", "P1 within 15 min")
def test_an_unacknowledged_estop_climbs_l1_l2_l3_while_it_waits_and_resolves_each(
    edge_world: EdgeWorld,
) -> None:
    w = edge_world
    with w.pipeline.clock.held():
        start = w.pipeline.clock.now()
        _, incident = estop(w)
        confirm_at(w, incident, 40)
    [run] = w.ladders(finished=1, workflow="emergency_stop", timeout=600)

    assert run["status"] == "SUCCEEDED" and run["states"][-1] == "ResetDone", run["states"]
    paged = pages(w)
    assert [p["level"] for p in paged] == ["l1", "l2", "l3"], paged
    for page, due in zip(paged, (0, 15, 30), strict=True):
        assert due <= minutes_after(page, start) < due + 0.5, minutes_after(page, start)
        assert page["message"]["dedupKey"] == incident
        assert page["message"]["severity"] == "P1" and page["message"]["cause"] == CAUSE
    assert "ack" in paged[1]["message"] and incident in paged[1]["message"]["ack"]
    resolves = pages(w, "resolve")
    assert sorted(r["level"] for r in resolves) == ["l1", "l2", "l3"]
    assert all(minutes_after(r, start) >= 40 for r in resolves)
    # Runbook 004's checklist, filled with what was found: the cause the person confirmed.
    record = resolves[0]["message"]["postIncident"]
    assert record["rootCause"] == CAUSE and record["teamNotified"] is True
    assert record["forPeople"] == dict.fromkeys(
        ("procedureEffective", "updateDocumentation", "improveMonitoring")
    )
    # Every level paged and nobody acknowledged: the watcher ends telling ops so; the chain
    # stays open until the incident's end resolves it (above).
    [watch] = watchers(w)
    assert watch["status"] == "FAILED" and watch["states"][-1] == "Unanswered", watch["states"]
    [told] = [n for n in w.pipeline.notifications() if n["level"] == "ops"
              and n["message"].get("automation") == "page_chain"]  # fmt: skip
    assert "nobody has acknowledged" in told["message"]["reason"]
    assert told["message"]["incidentId"] == incident


@pytest.mark.procedure("E9", "P1 within 15 min")
def test_an_acknowledged_chain_pages_no_l2_and_the_incident_stays_open(
    edge_world: EdgeWorld,
) -> None:
    from selfheal_shared.core import page_chain

    w = edge_world
    acked: list[page_chain.Chain] = []
    with w.pipeline.clock.held():
        start = w.pipeline.clock.now()
        sim, incident = estop(w)
        w.pipeline.clock.call_later(
            600, lambda: acked.append(page_chain.acknowledge(incident, by="ana"))
        )
        confirm_at(w, incident, 40)
    [run] = w.ladders(finished=1, workflow="emergency_stop", timeout=600)

    assert [a.acknowledgedBy for a in acked] == ["ana"]
    assert run["status"] == "SUCCEEDED", "acknowledging stops the pages, not the incident"
    assert sim.commands and sim.commands[0]["command"] == "reset-emergency-stop"
    assert minutes_after(pages(w, "resolve")[0], start) >= 40
    assert [p["level"] for p in pages(w)] == ["l1"], "acknowledged at 10 min: no L2, no L3"
    assert [r["level"] for r in pages(w, "resolve")] == ["l1"]
    [watch] = watchers(w)
    assert watch["status"] == "SUCCEEDED" and watch["states"][-1] == "Ended"
    chain = page_chain.get(incident)
    assert chain is not None and chain.acknowledgedAt is not None
    assert datetime.fromisoformat(chain.acknowledgedAt) - start == timedelta(minutes=10)


def signed(w: EdgeWorld, body: dict[str, Any], header: str) -> dict[str, Any]:
    """POST `body` to the page_ack function URL, signed with the stack's secret."""
    from selfheal_shared.core import page_ack

    secret = w.pipeline.client("secretsmanager").get_secret_value(SecretId=page_ack.SECRET_NAME)
    raw = json.dumps(body).encode()
    sig = page_ack.sign(raw, secret["SecretString"])
    return w.pipeline.function_url("page_ack", raw, {header: sig})


@pytest.mark.procedure("E9", "P1 within 15 min")
def test_a_pagerduty_acknowledgement_over_https_stops_the_ladder(edge_world: EdgeWorld) -> None:
    """Issue 23: the HTTPS acknowledgement path. A PagerDuty V3 `incident.acknowledged`
    webhook (its `incident_key` is the page's deduplication key) signed with the stack's
    secret stops the chain at 10 minutes: no L2; a forged signature, a malformed body and
    another event type change nothing, each answered with why."""
    from selfheal_shared.core import page_chain

    w = edge_world
    answers: list[dict[str, Any]] = []

    def webhook(event_type: str, key: str, header: str = "x-pagerduty-signature") -> None:
        body = {
            "event": {
                "event_type": event_type,
                "agent": {"summary": "Ana Souza", "type": "user_reference"},
                "data": {"type": "incident", "incident_key": key, "status": "acknowledged"},
            }
        }
        answers.append(signed(w, body, header))

    with w.pipeline.clock.held():
        _, incident = estop(w)
        w.pipeline.clock.call_later(540, lambda: webhook("incident.triggered", incident))
        w.pipeline.clock.call_later(560, lambda: webhook(ACK, incident, "x-selfheal-signature"))
        w.pipeline.clock.call_later(
            580,
            lambda: answers.append(
                w.pipeline.function_url(
                    "page_ack", b'{"event": {}}', {"x-pagerduty-signature": "v1=00"}
                )
            ),
        )
        w.pipeline.clock.call_later(600, lambda: webhook(ACK, incident))
        w.pipeline.clock.call_later(620, lambda: webhook(ACK, incident))  # a redelivery
        confirm_at(w, incident, 40)
    w.ladders(finished=1, workflow="emergency_stop", timeout=600)

    ignored, malformed, forged, acked, again = answers
    assert ignored["statusCode"] == 202
    assert malformed["statusCode"] == 400 and "incidentId" in malformed["body"]
    assert forged["statusCode"] == 401 and "no signature matches" in forged["body"]
    assert acked["statusCode"] == 200, acked
    assert json.loads(acked["body"])["acknowledgedBy"] == "Ana Souza (via pagerduty)"
    assert again["statusCode"] == 200 and json.loads(again["body"])["already"] is True
    assert [p["level"] for p in pages(w)] == ["l1"], "acknowledged at 10 min: no L2, no L3"
    chain = page_chain.get(incident)
    assert chain is not None and chain.acknowledgedBy == "Ana Souza (via pagerduty)"
    [record] = [
        r for r in w.pipeline.audit_records()
        if r["incidentId"] == incident and r["action"] == "pages_acknowledged"
    ]  # fmt: skip
    assert "Ana Souza" in record["why"]
