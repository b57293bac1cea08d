"""A battery P1 whose workflow gives up (issue 23): what it has to say goes on the
incident's page chain, not around it. An acknowledged chain escalates no further (the
acknowledger hears the news under the incident's deduplication key); an unacknowledged one
tells every level it paged, once. A silence that starts after L1 stops the ladder's clock:
the next level comes its full interval after the silence ends, not together with the one
after it (runbook 000 §6: the silence suppresses paging and the incident resumes)."""

from __future__ import annotations

from datetime import datetime

import pytest

from tests.edge.conftest import EdgeWorld
from tests.edge.test_battery_page_chain import confirm_at, minutes_after, pages
from tests.edge.test_emergency_stop import estop

E1 = "edge-cps-001"
PEOPLE = ("l1", "l2", "l3")


def to_people(w: EdgeWorld) -> list[dict[str, object]]:
    """What reached L1-L3, less the E-Stop gate's request (how to confirm, sent to L1 when
    the gate opens)."""
    return [
        n
        for n in w.pipeline.notifications()
        if n["level"] in PEOPLE and "confirm the cause" not in str(n["subject"])
    ]


@pytest.mark.procedure("E9", "acknowledged chain: a failure pages no further level")
def test_an_estop_acknowledged_then_unconfirmed_for_24_hours_tells_l1_and_pages_nobody_new(
    edge_world: EdgeWorld,
) -> None:
    """Acknowledged at 10 min by L1; nobody confirms the E-Stop safe within the gate's 24 h.
    The workflow's escalation names L1, L2 and L3, but the chain was acknowledged: no L2 or
    L3 page; L1 (who owns it) gets one update under the incident's key."""
    from selfheal_shared.core import page_chain

    w = edge_world
    with w.pipeline.clock.held():
        _, incident = estop(w)
        w.pipeline.clock.call_later(600, lambda: page_chain.acknowledge(incident, by="ana"))
    [run] = w.ladders(finished=1, workflow="emergency_stop", timeout=600)

    assert run["states"][-2:] == ["EscalateGateTimeout", "GateTimedOut"], run["states"]
    assert [(n["level"], n["message"].get("kind")) for n in to_people(w)] == [
        ("l1", "page"),
        ("l1", "update"),
    ]
    [update] = pages(w, "update")
    assert update["message"]["dedupKey"] == incident
    assert "within 24 h" in update["message"]["reason"]
    [record] = [
        r
        for r in w.pipeline.audit_records()
        if r["incidentId"] == incident and r["action"] == "escalate"
    ]
    assert "acknowledged by ana: no further level paged" in record["result"]
    assert "update to l1" in record["result"]


@pytest.mark.procedure("E9", "failure on an open chain: every level paged told once")
def test_an_unconfirmed_estop_tells_each_level_paged_once_on_its_chain(
    edge_world: EdgeWorld,
) -> None:
    """Nobody acknowledges: the watcher paged L1, L2, L3 at 0/15/30 min; the gate's 24 h
    timeout tells each of them once, under the same key, and pages nobody twice."""
    w = edge_world
    with w.pipeline.clock.held():
        _, incident = estop(w)
    [run] = w.ladders(finished=1, workflow="emergency_stop", timeout=600)

    assert run["states"][-1] == "GateTimedOut", run["states"]
    assert [p["level"] for p in pages(w)] == list(PEOPLE)
    updates = pages(w, "update")
    assert sorted(u["level"] for u in updates) == sorted(PEOPLE)
    assert {u["message"]["dedupKey"] for u in updates} == {incident}
    assert len(to_people(w)) == 6, "three pages and three updates, nothing around the chain"
    assert pages(w, "resolve") == [], "the E-Stop is still active: the incident stays open"


@pytest.mark.procedure("E9", "silence after L1: the ladder resumes where it stood")
def test_a_silence_after_l1_shifts_the_ladder_instead_of_piling_l2_and_l3(
    edge_world: EdgeWorld,
) -> None:
    """L1 at 0; the edge silenced from minute 5 to 45. L2, due at 15, is held from 15 and
    paged when the silence ends (45); L3 comes its 15 minutes later (60), not with L2."""
    from selfheal_shared.core import guards

    w = edge_world
    clock = w.pipeline.clock
    with clock.held():
        start: datetime = clock.now()
        _, incident = estop(w)
        clock.call_later(300, lambda: guards.silence(E1, minutes=40, reason="técnico no local"))
        confirm_at(w, incident, 90)
    [run] = w.ladders(finished=1, workflow="emergency_stop", timeout=600)

    assert run["status"] == "SUCCEEDED", run["states"]
    paged = pages(w)
    assert [p["level"] for p in paged] == list(PEOPLE)
    at = [minutes_after(p, start) for p in paged]
    assert at[0] < 0.5
    assert 45 <= at[1] < 46, at
    assert 60 <= at[2] < 61, at
    record = page_chain_record(w, incident)
    assert record.heldSince is None and 29 * 60 <= record.heldSeconds <= 31 * 60


def page_chain_record(w: EdgeWorld, incident: str):  # type: ignore[no-untyped-def]
    from selfheal_shared.core import page_chain

    chain = page_chain.get(incident)
    assert chain is not None
    return chain


@pytest.mark.procedure("E9", "resolved by a person: one resolve per paged level, no page after")
def test_an_estop_resolved_by_a_person_pages_nobody_when_its_gate_later_times_out(
    edge_world: EdgeWorld,
) -> None:
    """A person resolved the incident at 20 min (L1, L2 paged and sent their resolve); the
    E-Stop gate still times out at 24 h: its escalation reopens nothing and pages nobody,
    the ops queue hears it with who resolved the incident."""
    from datetime import timedelta

    from tests.edge.test_page_resolve import STATED, resolve

    w = edge_world
    clock = w.pipeline.clock
    with clock.held():
        start = clock.now()
        _, incident = estop(w)
        clock.hold_at(start + timedelta(minutes=20))
    assert clock.wait_standing(300)
    assert resolve(incident, "--by", "ana", "--cause", STATED) == 0
    clock.hold_at(None)
    [run] = w.ladders(finished=1, workflow="emergency_stop", timeout=600)

    assert run["states"][-2:] == ["EscalateGateTimeout", "GateTimedOut"], run["states"]
    assert [(n["level"], n["message"].get("kind")) for n in to_people(w)] == [
        ("l1", "page"),
        ("l2", "page"),
        ("l1", "resolve"),
        ("l2", "resolve"),
    ]
    [told] = [
        n
        for n in w.pipeline.notifications()
        if n["level"] == "ops" and "within 24 h" in str(n["message"].get("reason"))
    ]
    assert told["message"]["resolvedBy"] == "ana" and told["message"]["dedupKey"] == incident


@pytest.mark.procedure("E9", "silence suppresses automation and paging")
def test_a_silence_holds_the_failure_pages_and_the_ops_queue_hears_it(
    edge_world: EdgeWorld,
) -> None:
    """The chain paged L1-L3; a silence on the edge covers the gate's 24 h timeout: nobody
    is paged or woken for it, the ops queue (no one on call) has the news, and the record
    says the pages were held."""
    from selfheal_shared.core import guards

    w = edge_world
    clock = w.pipeline.clock
    with clock.held():
        _, incident = estop(w)
        clock.call_later(
            23 * 3600, lambda: guards.silence(E1, minutes=120, reason="técnico no local")
        )
    [run] = w.ladders(finished=1, workflow="emergency_stop", timeout=600)

    assert run["states"][-1] == "GateTimedOut", run["states"]
    assert [(n["level"], n["message"].get("kind")) for n in to_people(w)] == [
        ("l1", "page"),
        ("l2", "page"),
        ("l3", "page"),
    ]
    [told] = [
        n
        for n in w.pipeline.notifications()
        if n["level"] == "ops" and "within 24 h" in str(n["message"].get("reason"))
    ]
    assert told["message"]["dedupKey"] == incident
    [record] = [
        r
        for r in w.pipeline.audit_records()
        if r["incidentId"] == incident
        and r["action"] == "escalate"
        and "within 24 h" in str(r["why"])
    ]
    assert record["result"].startswith("pages held: silenced on edge-cps-001"), record
    assert record["outcome"] == "SKIPPED_BY_GUARD"
