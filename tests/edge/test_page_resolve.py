"""A person resolves a page chain the automation left open (issue 23 item 3, "the incident's
end sends one resolve to everyone who was paged"): an E-Stop nobody confirmed fails its
workflow and hands the incident to people, its chain stays open; `selfheal resolve` (or a
PagerDuty `incident.resolved` webhook) ends it: one resolve to every level paged, each once,
the post-incident record with who resolved it and the cause as that person stated it, and the
chain's watcher pages nobody after."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from typing import Any

import pytest

from tests.edge.conftest import EdgeWorld
from tests.edge.test_battery_page_chain import confirm_at, pages, signed, watchers
from tests.edge.test_emergency_stop import estop

STATED = "E-Stop pressed by the night shift during a cabinet inspection; reset on site"


def resolve(incident: str, *args: str) -> int:
    from local import cli

    return cli.main(["resolve", incident, *args])


def records(w: EdgeWorld, incident: str, action: str) -> list[dict[str, Any]]:
    return [
        {**r, "details": json.loads(r["details"]) if r.get("details") else {}}
        for r in w.pipeline.audit_records()
        if r["incidentId"] == incident and r["action"] == action
    ]


@pytest.mark.procedure("E9", "resolved by a person: one resolve per paged level, no page after")
def test_an_estop_nobody_confirmed_is_resolved_by_a_person_once(
    edge_world: EdgeWorld, capsys: pytest.CaptureFixture[str]
) -> None:
    """The gate times out after 24 h (E7): the workflow fails with L1, L2 and L3 paged and
    the chain open. `selfheal resolve` refuses an empty name or cause and an unknown
    incident naming the field, then sends one resolve to each of L1, L2 and L3 carrying the
    post-incident record (resolvedBy, the cause stated by that person, their downtime); a
    second resolve is refused saying when and by whom, and sends nothing."""
    from selfheal_shared.core import page_chain

    w = edge_world
    with w.pipeline.clock.held():
        _, incident = estop(w)
    [run] = w.ladders(finished=1, workflow="emergency_stop", timeout=600)

    assert run["status"] == "FAILED" and run["states"][-1] == "GateTimedOut", run["states"]
    chain = page_chain.get(incident)
    assert chain is not None and chain.resolvedAt is None, "a failed workflow leaves it open"
    assert [p["level"] for p in pages(w)] == ["l1", "l2", "l3"]
    assert pages(w, "resolve") == []

    for args, field in (
        (["--by", " ", "--cause", STATED], "by: required"),
        (["--by", "ana", "--cause", ""], "cause: required"),
        (["--by", "ana", "--cause", STATED, "--downtime-minutes", "-5"], "downtime-minutes: "),
    ):
        with pytest.raises(SystemExit, match=f"resolve refused: {field}"):
            resolve(incident, *args)
    with pytest.raises(SystemExit, match="resolve refused: incident: no page chain for 'nope'"):
        resolve("nope", "--by", "ana", "--cause", STATED)
    assert pages(w, "resolve") == [] and page_chain.get(incident) == chain, "nothing changed"

    assert resolve(incident, "--by", "ana", "--cause", STATED, "--downtime-minutes", "95") == 0
    said = capsys.readouterr().out
    assert f"{incident} resolved by ana" in said
    assert "post-incident record kept with the cause as you stated it" in said
    resolves = pages(w, "resolve")
    assert sorted(r["level"] for r in resolves) == ["l1", "l2", "l3"], "one per level paged"
    assert {r["message"]["dedupKey"] for r in resolves} == {incident}
    record = resolves[0]["message"]["postIncident"]
    assert record["resolvedBy"] == "ana" and record["rootCause"] == STATED
    assert record["statedBy"] == {"rootCause": "ana", "downtimeMinutes": "ana"}
    assert record["downtimeMinutes"] == 95 and record["postMortem"] is True
    assert record["dataLost"] == "not measured" and record["forPeople"]["dataLost"] is None
    [kept] = records(w, incident, "post_incident")
    assert kept["details"]["resolvedBy"] == "ana" and kept["details"]["rootCause"] == STATED
    [done] = records(w, incident, "pages_resolved")
    assert "ana" in done["why"] and STATED in done["why"]

    resolved = page_chain.get(incident)
    assert resolved is not None and resolved.resolvedBy == "ana"
    with pytest.raises(
        SystemExit, match=re.escape(f"already resolved at {resolved.resolvedAt} by ana")
    ):
        resolve(incident, "--by", "bruno", "--cause", "something else")
    with pytest.raises(SystemExit, match=r"already resolved at .* by ana"):
        resolve(incident, "--by", "ana", "--cause", STATED)
    assert len(pages(w, "resolve")) == 3, "a second resolve sends nothing"
    assert len(records(w, incident, "post_incident")) == 1


@pytest.mark.procedure("E9", "resolved by a person: one resolve per paged level, no page after")
def test_a_resolve_between_two_levels_stops_the_watcher(
    edge_world: EdgeWorld, capsys: pytest.CaptureFixture[str]
) -> None:
    """Resolved at 20 minutes (L1 at 0 and L2 at 15 paged, nobody confirmed yet): L3's turn
    at 30 minutes comes and goes with no page, the watcher ends, L1 and L2 get one resolve
    each; the E-Stop's later confirmation (its own end) sends no second resolve."""
    w = edge_world
    with w.pipeline.clock.held():
        start = w.pipeline.clock.now()
        _, incident = estop(w)
        confirm_at(w, incident, 40)
        w.pipeline.clock.hold_at(start + timedelta(minutes=20))
    assert w.pipeline.clock.wait_standing(300)
    assert [p["level"] for p in pages(w)] == ["l1", "l2"]

    assert resolve(incident, "--by", "ana", "--cause", STATED, "--data-lost", "none") == 0
    w.pipeline.clock.hold_at(None)
    [watch] = watchers(w)
    w.ladders(finished=1, workflow="emergency_stop", timeout=600)

    assert w.pipeline.clock.now() >= start + timedelta(minutes=40)
    assert [p["level"] for p in pages(w)] == ["l1", "l2"], "no L3 after the resolve"
    assert watch["status"] == "SUCCEEDED" and watch["states"][-1] == "Ended", watch["states"]
    resolves = pages(w, "resolve")
    assert sorted(r["level"] for r in resolves) == ["l1", "l2"]
    record = resolves[0]["message"]["postIncident"]
    assert record["dataLost"] == "none" and record["statedBy"]["dataLost"] == "ana"
    assert record["forPeople"]["downtimeMinutes"] is None, "no downtime given: left for people"


@pytest.mark.procedure("E9", "resolved by a person: one resolve per paged level, no page after")
def test_a_pagerduty_resolve_over_https_ends_the_chain_and_leaves_the_cause_to_people(
    edge_world: EdgeWorld,
) -> None:
    """A signed PagerDuty V3 `incident.resolved` at 20 minutes (no resolution note) resolves
    the chain by its agent: L3 is never paged, L1 and L2 get one resolve each, the record
    says the cause was not given and leaves it for people; a redelivery changes nothing; a
    forged signature resolves nothing."""
    from selfheal_shared.core import page_chain

    w = edge_world
    answers: list[dict[str, Any]] = []

    def webhook(signature: str = "") -> None:
        body = {
            "event": {
                "event_type": "incident.resolved",
                "agent": {"summary": "Ana Souza", "type": "user_reference"},
                "data": {"type": "incident", "incident_key": incident, "status": "resolved"},
            }
        }
        if signature:
            raw = json.dumps(body).encode()
            hdr = {"x-pagerduty-signature": signature}
            answers.append(w.pipeline.function_url("page_ack", raw, hdr))
        else:
            answers.append(signed(w, body, "x-pagerduty-signature"))

    with w.pipeline.clock.held():
        _, incident = estop(w)
        w.pipeline.clock.call_later(1190, lambda: webhook("v1=00"))
        w.pipeline.clock.call_later(1200, webhook)
        w.pipeline.clock.call_later(1210, webhook)  # a redelivery
        confirm_at(w, incident, 40)
    [watch] = watchers(w)
    w.ladders(finished=1, workflow="emergency_stop", timeout=600)

    forged, resolved, again = answers
    assert forged["statusCode"] == 401
    assert resolved["statusCode"] == 200, resolved
    assert json.loads(resolved["body"])["resolveSentTo"] == ["l1", "l2"]
    assert again["statusCode"] == 200 and json.loads(again["body"])["already"] is True
    assert [p["level"] for p in pages(w)] == ["l1", "l2"], "no L3 after the resolve"
    assert watch["status"] == "SUCCEEDED" and watch["states"][-1] == "Ended", watch["states"]
    resolves = pages(w, "resolve")
    assert sorted(r["level"] for r in resolves) == ["l1", "l2"]
    record = resolves[0]["message"]["postIncident"]
    assert record["resolvedBy"] == "Ana Souza (via pagerduty)"
    assert record["rootCause"] == (
        "not identified (resolved in PagerDuty by Ana Souza, no cause given)"
    )
    assert record["statedBy"] == {} and record["forPeople"]["rootCause"] is None
    chain = page_chain.get(incident)
    assert chain is not None and chain.resolvedBy == "Ana Souza (via pagerduty)"
