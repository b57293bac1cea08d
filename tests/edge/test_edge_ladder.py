"""edge_offline_ladder end to end: real broker, last wills, simulated edges, the
deployed ASL on moto, an hour of ladder in virtual time."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

import pytest
from selfheal_shared.edge import edges

from local.worlds import WorldSpec
from local.worlds.edge import EdgeSiteSpec
from tests.edge.conftest import EdgeWorld

E1, E2 = "edge-cps-001", "edge-cps-002"


def outcome(run: dict[str, Any]) -> list[tuple[str, str]]:
    return [(a["name"], a["outcome"]) for a in run["actions"]]


def closed_gap(w: EdgeWorld) -> dict[str, Any]:
    rec = next(r for r in w.pipeline.audit_records() if r.get("outcome") == "FIXED")
    return dict(json.loads(rec["details"]))


@pytest.mark.procedure("E1", "hung process: restart")
@pytest.mark.procedure("E1", "reconnect closes the incident with downtime and data gap")
def test_killed_edge_is_restarted_and_the_incident_closed_with_downtime(
    edge_world: EdgeWorld,
) -> None:
    """Runbook 000 §1: "Processo edge travado | `sudo systemctl restart lifo4-edge`" -
    the agent answers the probe while the controller stays offline."""
    w = edge_world
    [sim] = w.start_edges([E1], buffered=10)
    sim.kill()  # the broker publishes the last will
    [run] = w.ladders(finished=1)

    assert run["status"] == "SUCCEEDED" and run["states"][-1] == "Closed"
    assert "Restart" in run["states"] and "RenewCertificate" not in run["states"]
    assert [c["command"] for c in sim.commands] == ["probe", "restart"]
    assert sim.restarts == 1 and sim.connected.is_set()
    assert outcome(run)[-1] == ("edge_offline_ladder", "FIXED")
    [diagnosis] = [r for r in w.pipeline.audit_records() if r["action"] == "diagnosis"]
    assert diagnosis["result"].startswith("cause: hung_process")
    assert "answered probe" in diagnosis["why"], "the record says which evidence"
    [restart] = [r for r in w.pipeline.audit_records() if r["action"] == "edge_restart"]
    assert "diagnosis: the agent answered probe" in restart["why"]
    gap = closed_gap(w)
    assert 2.5 <= gap["downtimeMinutes"] <= 3.5, "grace 2 min + probe 30 s + restart"
    assert gap["samplesBuffered"] == 10 and gap["samplesLost"] == gap["samplesExpected"] - 10
    assert w.pages() == [], "fixed before the 10-minute page"


@pytest.mark.procedure("E1", "certificate expired → renew (CSR over the claim channel)")
def test_expired_certificate_takes_the_renewal_path(edge_world: EdgeWorld) -> None:
    """Runbook 000 §1: "Certificado MQTT expirado | Renovar certificado via API e publicar
    novo config" - diagnosed from the agent's answer, so no restart is tried first."""
    w = edge_world
    [sim] = w.start_edges([E1], failure="certificate_expired")
    sim.kill()
    [run] = w.ladders(finished=1)

    assert run["status"] == "SUCCEEDED"
    assert [c["command"] for c in sim.commands] == ["probe"], "renewal: the claim channel"
    assert "RenewCertificate" in run["states"] and "OtaRollback" not in run["states"]
    assert "Restart" not in run["states"]
    iot = w.pipeline.client("iot")
    principals = iot.list_thing_principals(thingName=E1)["principals"]
    assert len(principals) == 1, "the new certificate is attached to the edge's thing"
    cert_id = principals[0].rsplit("/", 1)[-1]
    assert (
        iot.describe_certificate(certificateId=cert_id)["certificateDescription"]["status"]
        == "ACTIVE"
    )
    assert (
        iot.list_attached_policies(target=principals[0])["policies"][0]["policyName"]
        == "selfheal-edge"
    )


@pytest.mark.procedure("E1", "bad partition: OTA rollback")
def test_bad_partition_takes_the_ota_rollback_path(edge_world: EdgeWorld) -> None:
    """Runbook 000 §1: "Partição com problema | Forçar rollback OTA via API"."""
    w = edge_world
    [sim] = w.start_edges([E1], failure="partition_bad")
    sim.kill()
    [run] = w.ladders(finished=1)

    assert run["status"] == "SUCCEEDED"
    assert [c["command"] for c in sim.commands] == ["probe", "ota-rollback"]
    assert "OtaRollback" in run["states"] and "RenewCertificate" not in run["states"]
    assert "Restart" not in run["states"]


@pytest.mark.procedure("E1", "hardware failure: replacement ticket")
@pytest.mark.procedure("E1", "escalation: P2 at 10 min, L2 at 30, L3 at 60")
@pytest.mark.procedure("E9", "P2 within 1 h")
def test_never_comes_back_pages_l1_l2_l3_at_10_30_60_minutes(edge_world: EdgeWorld) -> None:
    """Runbook 000 §1: "Hardware com falha | Trocar hardware; provisioning automático ao
    ligar" - requested once the box stays silent while its site's network works; §6:
    "P2 - HIGH | < 1h | Edge offline > 10min"."""
    w = edge_world
    [sim] = w.start_edges([E1], failure="hardware")
    w.start_edges([E2])  # the site's network works
    sim.kill()
    [run] = w.ladders(finished=1)

    assert run["status"] == "FAILED" and run["error"] == "selfheal.Escalated"
    pages = [
        (p["level"], p["message"]["offlineMinutes"]) for p in w.pages() if "offline" in p["subject"]
    ]
    assert [lvl for lvl, _ in pages] == ["l1", "l2", "l3"]
    for (level, minutes), due in zip(pages, (10, 30, 60), strict=True):
        assert due <= minutes < due + 1.5, f"{level} paged at {minutes} min"
    replacement = [p for p in w.pages() if "replacement" in p["subject"]]
    assert len(replacement) == 1 and replacement[0]["level"] == "l2"
    assert replacement[0]["message"]["offlineMinutes"] >= 30, "not 30 s after one command"
    assert "1 other edge(s) of the site are online" in replacement[0]["message"]["evidence"]
    assert [c["command"] for c in sim.commands] == ["probe"], "no restart: nothing answers"
    # The whole hour ran in virtual time.
    assert (w.pipeline.clock.now() - w.pipeline.journal[0].at).total_seconds() >= 3600


@pytest.mark.procedure("E1", "no internet at the site: autonomous, not an incident")
def test_autonomous_mode_is_recorded_and_never_restarted(edge_world: EdgeWorld) -> None:
    """Runbook 000 §1: "Edge em modo autônomo (sem internet) - Não é incidente"."""
    w = edge_world
    [sim] = w.start_edges([E1])
    sim.go_autonomous()
    runs = w.ladders(finished=1)

    assert all(r["status"] == "SUCCEEDED" for r in runs)
    assert runs[0]["states"][-1] == "Autonomous"
    assert sim.commands == [] and w.commands_sent() == []
    assert w.pages() == []
    [note] = [n for n in w.pipeline.notifications() if n["level"] == "ops"]
    assert "autonomous mode" in note["message"]["summary"]
    [opened] = [r for r in w.pipeline.audit_records() if r["actor"] == "edge_open"]
    assert opened["outcome"] == "NO_ACTION_NEEDED", "by design, not a guard's refusal"


def test_a_late_offline_event_for_an_edge_back_online_needs_no_action(
    edge_world: EdgeWorld,
) -> None:
    """EventBridge may deliver a copy late: the edge is online by the registry when its
    ladder starts. Nothing is done, and the record says no action was needed (issue 21),
    not that a guard refused something."""
    w = edge_world
    [sim] = w.start_edges([E1])
    now = w.pipeline.clock.now().isoformat()
    event = {
        "version": "0",
        "id": "late-copy-1",
        "detail-type": edges.CONNECTIVITY,
        "source": edges.SOURCE,
        "account": "123456789012",
        "time": now,
        "region": "us-east-1",
        "resources": [],
        "detail": {"edgeId": E1, "siteId": "site-campinas", "state": "offline",
                   "previous": "online", "reason": "a late copy", "at": now},
    }  # fmt: skip
    w.pipeline.put_event(event, bus="selfheal-edge")
    [run] = w.ladders(finished=1)

    assert run["status"] == "SUCCEEDED" and run["states"][-1] == "AlreadyBack", run["states"]
    assert sim.commands == [] and w.commands_sent() == [] and w.pages() == []
    [opened] = [r for r in w.pipeline.audit_records() if r["actor"] == "edge_open"]
    assert (opened["outcome"], opened["result"]) == ("NO_ACTION_NEEDED", "nothing to do")


def test_duplicate_offline_signals_run_one_ladder(edge_world: EdgeWorld) -> None:
    w = edge_world
    [sim] = w.start_edges([E1])
    sim.kill()
    ingress = w.pipeline.lambdas.handler_for("edge_ingress")
    w.settle()
    # The same outage reported again: presence disconnected and a repeated last will.
    ingress(
        {
            "topic": f"$aws/events/presence/disconnected/{E1}",
            "payload": {
                "clientId": E1,
                "timestamp": int(w.pipeline.clock.now().timestamp() * 1000),
                "eventType": "disconnected",
                "sessionIdentifier": "a4666d2a7d844ae4ac5d7b38c9cb7967",
                "disconnectReason": "CONNECTION_LOST",
            },
        },
        None,
    )
    ingress({"topic": f"lifo4/{E1}/status", "payload": {"status": "offline"}}, None)
    runs = w.ladders(finished=1)

    assert len(runs) == 1
    assert [c["command"] for c in sim.commands] == ["probe", "restart"]


def test_two_ladders_started_for_one_outage_are_one_incident(edge_world: EdgeWorld) -> None:
    """Even if EventBridge delivers the offline event twice, one ladder acts."""
    w = edge_world
    [sim] = w.start_edges([E1])
    sim.kill()
    event = w.wait_for_event(lambda e: e["detail"].get("state") == "offline")
    w.pipeline.put_event(event, bus="selfheal-edge")
    runs = w.ladders(finished=2)

    assert sorted(r["states"][-1] for r in runs) == ["Closed", "Duplicate"]
    assert [c["command"] for c in sim.commands] == ["probe", "restart"]


def test_site_storm_is_one_incident_and_no_restarts(make_edge_world: Any) -> None:
    """Three quarters of a site down together (the rest still online, so the site has
    internet): one site incident, ops told once, nobody restarted one by one; one ladder
    watches the incident, the others end as part of it."""
    w = make_edge_world(
        WorldSpec(edgeSites=[EdgeSiteSpec(siteId="site-big", prefix="edge-big", count=200)])
    )
    sims = w.start_edges([f"edge-big-{n:03d}" for n in range(1, 201)], agent=False)
    w.outage(sims[:150])
    runs = w.ladders(finished=149, timeout=600)  # a bound for a hang, not a speed test

    assert len(runs) == 150
    assert sum(1 for r in runs if r["states"][-1] == "PartOfStorm") == 149
    [watching] = [r for r in runs if r["status"] == "RUNNING"]
    assert "StormWatch" in watching["states"]
    assert not [t for t in w.commands_sent() if t.endswith("/restart")], "no per-edge restart"
    opened = [n for n in w.pipeline.notifications() if "site incident opened" in n["subject"]]
    assert len(opened) == 1 and opened[0]["level"] == "ops", "told once"
    assert opened[0]["subject"].startswith("[selfheal] P3"), "2 min offline is not P2"


STORM_SITE = "site-storm"


@pytest.mark.procedure("E1", "site storm: one incident paged P2 at 10, L2 at 30, L3 at 60")
@pytest.mark.procedure("E1", "site storm closed when its edges return, with those not back")
def test_a_site_storm_is_paged_on_the_ladder_clock_and_closed_with_what_came_back(
    make_edge_world: Any,
) -> None:
    """Runbook 000 §6 "P2 - HIGH | Edge offline > 10min" on the ladder's clock (E1: P2 at 10
    min, L2 at 30, L3 at 60) for the one incident of a site-wide outage; §1 "resolves
    itself when the edge reconnects, recording downtime": the edges back after 65 minutes
    close it, with which came back and for how long; the one that did not is named."""
    w = make_edge_world(
        WorldSpec(edgeSites=[EdgeSiteSpec(siteId=STORM_SITE, prefix="edge-sto", count=8)])
    )
    sims = w.start_edges([f"edge-sto-{n:03d}" for n in range(1, 9)], agent=False)
    down, never = sims[:5], sims[5]
    with w.pipeline.clock.held():
        w.outage([*down, never])
        for sim in down:  # the ISP is back after 65 minutes; edge-sto-006 stays dead
            w.pipeline.clock.call_later(65 * 60, sim._restart)
    runs = w.ladders(finished=6, timeout=600)

    assert sorted(r["states"][-1] for r in runs) == ["PartOfStorm"] * 5 + ["StormClosed"]
    assert not [t for t in w.commands_sent() if t.endswith("/restart")], "no per-edge restart"
    pages = [
        p for p in w.pages() if "site incident:" in p["subject"] and "RESOLVED" not in p["subject"]
    ]
    assert [p["level"] for p in pages] == ["l1", "l2", "l3"], [p["subject"] for p in pages]
    for page, due in zip(pages, (10, 30, 60), strict=True):
        assert due <= page["message"]["offlineMinutes"] < due + 1.5, page["message"]
        assert page["subject"].startswith("[selfheal] P2"), page["subject"]
    assert pages[0]["message"]["edgesOffline"] == [f"edge-sto-{n:03d}" for n in range(1, 7)]
    # One page chain: every page carries the storm incident's deduplication key.
    assert {p["message"]["dedupKey"] for p in pages} == {pages[0]["message"]["incidentId"]}
    resolved = [n for n in w.pipeline.notifications() if "RESOLVED site incident" in n["subject"]]
    assert sorted(n["level"] for n in resolved) == ["l1", "l2", "l3", "ops"], "all paged told"
    told = resolved[0]["message"]
    assert [b["edgeId"] for b in told["edgesBack"]] == [f"edge-sto-{n:03d}" for n in range(1, 6)]
    assert all(65 <= b["downtimeMinutes"] < 67 for b in told["edgesBack"]), told["edgesBack"]
    assert told["edgesNotBack"] == ["edge-sto-006"]
    [closed] = [r for r in w.pipeline.audit_records() if r["action"] == "storm_closed"]
    assert "5 of 6 edges back" in closed["result"] and "not back: edge-sto-006" in closed["result"]
    assert closed["outcome"] == "SKIPPED_BY_GUARD", "not fixed by automation"


def test_an_acknowledged_site_storm_pages_nobody_more_and_resolves_what_it_paged(
    make_edge_world: Any,
) -> None:
    """Issue 23: the storm's one page chain, acknowledged at 20 minutes (after L1 at 10),
    pages no L2 at 30 nor L3 at 60; the site's return still closes it, with one resolve to
    L1 (the only level paged) and the ops notice."""
    from selfheal_shared.core import page_chain

    w = make_edge_world(
        WorldSpec(edgeSites=[EdgeSiteSpec(siteId=STORM_SITE, prefix="edge-sto", count=8)])
    )
    sims = w.start_edges([f"edge-sto-{n:03d}" for n in range(1, 9)], agent=False)
    acked: list[str] = []

    def ack() -> None:
        [opened] = [p for p in w.pages() if "site incident:" in p["subject"]]
        acked.append(page_chain.acknowledge(opened["message"]["incidentId"], by="ana").incidentId)

    with w.pipeline.clock.held():
        w.outage(sims[:6])
        w.pipeline.clock.call_later(20 * 60, ack)
        for sim in sims[:6]:
            w.pipeline.clock.call_later(65 * 60, sim._restart)
    runs = w.ladders(finished=6, timeout=600)

    assert sorted(r["states"][-1] for r in runs) == ["PartOfStorm"] * 5 + ["StormClosed"]
    assert len(acked) == 1
    pages = [p for p in w.pages() if p["message"].get("kind") == "page"]
    assert [p["level"] for p in pages] == ["l1"], [p["subject"] for p in pages]
    resolved = [n for n in w.pipeline.notifications() if "RESOLVED site incident" in n["subject"]]
    assert sorted(n["level"] for n in resolved) == ["l1", "ops"]
    assert {n["message"]["incidentId"] for n in resolved} == set(acked)


@pytest.mark.procedure("E9", "silence suppresses automation and paging")
def test_silence_means_no_actions_and_no_pages(edge_world: EdgeWorld) -> None:
    """Runbook 000 §6: while silenced, no action and no page; the outage is still there
    when the silence ends, and the ladder takes it up then."""
    w = edge_world
    arn = w.pipeline.start_manual(
        "edge_silence",
        {"scope": "site:site-campinas", "durationMinutes": 120, "reason": "manutenção preventiva"},
    )
    w.pipeline.wait([arn])
    ends = w.pipeline.clock.now() + timedelta(minutes=120)
    [sim] = w.start_edges([E1], failure="hardware")
    sim.kill()
    [run] = [r for r in w.ladders(finished=1) if r["workflow"] == "edge_offline_ladder"]

    assert "Skipped" not in run["states"] and "WhileSilenced" in run["states"]
    assert ("edge_offline_ladder", "SKIPPED_BY_GUARD") in outcome(run)
    assert ("silenced", "SKIPPED_BY_GUARD") in outcome(run)
    assert all(datetime.fromisoformat(c["issuedAt"]) >= ends for c in sim.commands)
    assert all(datetime.fromisoformat(p["message"]["at"]) >= ends for p in w.pages())
    assert run["status"] == "FAILED", "resumed after the silence: this edge never came back"


def test_silence_expires_by_itself(edge_world: EdgeWorld) -> None:
    from selfheal_shared.core import guards

    w = edge_world
    guards.silence(E1, minutes=5, reason="swap battery module")
    assert guards.silenced([E1]) is not None
    w.pipeline.clock.advance(5 * 60)
    assert guards.silenced([E1]) is None


@pytest.mark.parametrize(
    ("topic", "payload", "error"),
    [
        (f"lifo4/{E1}/status", json.dumps({"status": 5}), "status"),
        (f"lifo4/{E1}/telemetry", json.dumps({"ts": 1, "soc": 250, "powerKw": 1}), "soc"),
        (f"lifo4/{E1}/status", "not json at all", "not JSON"),
        (f"lifo4/{E1}/status", "[1, 2, 3]", "JSON object"),
        (
            f"lifo4/{E1}/status",
            json.dumps({"status": "offline", "pad": "x" * 1_000_000}),
            "byte limit",
        ),
    ],
    ids=[
        "status-wrong-type",
        "soc-out-of-range",
        "not-json",
        "not-object",
        "1MB",
    ],
)
def test_hostile_payloads_are_rejected_with_a_clear_error_and_no_action(
    edge_world: EdgeWorld, topic: str, payload: str, error: str
) -> None:
    w = edge_world
    w.start_edges([E1])
    w.publish(topic, payload)
    w.settle()

    assert [(t, e) for t, e in w.bridge.rejected if error in e], w.bridge.rejected
    assert w.ladders(finished=0) == [], "no workflow started"
    rejected = [r for r in w.pipeline.audit_records() if r["action"] == "ingress_rejected"]
    assert rejected and error in rejected[-1]["why"], "kept for inspection with the reason"


@pytest.mark.parametrize(
    "topic",
    [
        "lifo4/+/status",
        "lifo4/#",
        "lifo4/a+b/status",
        "other/edge-1/status",
        "$aws/events/presence/disconnected/edge#1",
    ],
)
def test_wildcards_and_foreign_topics_are_not_edge_ids(edge_world: EdgeWorld, topic: str) -> None:
    from selfheal_shared.core.errors import InputInvalid

    ingress = edge_world.pipeline.lambdas.handler_for("edge_ingress")
    with pytest.raises(InputInvalid, match="topic"):
        ingress({"topic": topic, "payload": {"status": "offline"}}, None)
    assert edge_world.ladders(finished=0) == []


@pytest.mark.procedure("E1", "trigger: no telemetry for 30 s (the sweep)")
def test_silent_telemetry_is_found_by_the_sweep_after_30_seconds(edge_world: EdgeWorld) -> None:
    w = edge_world
    w.start_edges([E1])
    ingress = w.pipeline.lambdas.handler_for("edge_ingress")
    with w.pipeline.clock.held():
        w.pipeline.clock.advance(29)
        assert ingress({"sweep": True}, None)["events"] == [], "29 s of silence is not stale"
        w.pipeline.clock.advance(2)
        found = ingress({"sweep": True}, None)["events"]
    assert [e["type"] for e in found] == ["Edge Telemetry Stale", "Edge Connectivity Changed"]
    assert found[0]["edgeId"] == E1 and found[0]["silentSeconds"] >= 31
    assert ingress({"sweep": True}, None)["events"] == [], "reported once"


@pytest.mark.procedure("E7", "the offline ladder never restarts an edge under an active E-Stop")
def test_an_edge_lost_under_an_active_estop_is_never_restarted_by_the_ladder(
    edge_world: EdgeWorld,
) -> None:
    """Runbook 000 §5c: an E-Stop is never acted on without a human ("NUNCA fazer reset sem
    identificar causa"). A hung controller whose last report had the E-Stop active is
    probed and diagnosed, but not restarted: the refusal names the guard, the incident stays
    open and is paged on its P1 clock."""
    w = edge_world
    [sim] = w.start_edges([E1])
    w.start_edges(["edge-cps-002"])
    sim.publish_status("online", alarms=["EMERGENCY_STOP"])
    w.settle()
    sim.kill()
    [run] = w.ladders(finished=1)

    assert [c["command"] for c in sim.commands] == ["probe"], "no restart under an E-Stop"
    assert sim.restarts == 0
    [refused] = [r for r in w.pipeline.audit_records() if r["action"] == "edge_restart"]
    assert refused["outcome"] == "SKIPPED_BY_GUARD"
    assert "EMERGENCY_STOP active" in refused["why"]
    assert [p["level"] for p in w.pages()][:1] == ["l1"], "paged, never silent"
    assert run["status"] == "FAILED", run["states"]
