"""The ladder diagnoses before it acts (runbook 000 §1), takes its severity and timings
from the runbook's table (§6), and reads an edge's site from the registry, never from the
event."""

from __future__ import annotations

from datetime import datetime

import pytest
from selfheal_shared.edge import edge_registry, edges

from tests.edge.conftest import EdgeWorld

E1, E2, E3, E4 = (f"edge-cps-00{n}" for n in range(1, 5))
RECIFE = ["edge-rec-001", "edge-rec-002", "edge-rec-003"]


def offline_pages(w: EdgeWorld) -> list[tuple[str, str, float]]:
    return [
        (p["level"], p["subject"], p["message"]["offlineMinutes"])
        for p in w.pages()
        if " offline " in p["subject"]
    ]


@pytest.mark.procedure("E1", "no internet at the site: autonomous, not an incident")
@pytest.mark.parametrize(
    ("site", "members", "other"),
    [("site-campinas", [E1, E2, E3, E4], RECIFE), ("site-recife", RECIFE, [E1, E2, E3, E4])],
    ids=["4-edge site", "3-edge site"],
)
def test_a_site_that_loses_internet_is_not_an_incident(
    edge_world: EdgeWorld, site: str, members: list[str], other: list[str]
) -> None:
    """Runbook 000 §1: "Sem internet no site | Verificar roteador/ISP local. Edge opera
    offline automaticamente" and "Edge em modo autônomo (sem internet) - Não é incidente".
    A demo site goes silent together, its edges saying nothing first (the other site stays
    online): no restart, no replacement, no L1-L3 page; ops are told once."""
    w = edge_world
    sims = w.start_edges(members, agent=False)
    w.start_edges(other)
    w.outage(sims)
    runs = w.ladders(finished=len(members))

    assert [r["states"][-1] for r in runs] == ["SiteWithoutInternet"] * len(members)
    assert all(r["status"] == "SUCCEEDED" for r in runs)
    assert w.commands_sent() == [], "no probe, no restart"
    assert w.pages() == [], "no L1-L3 page, no replacement request"
    [told] = [n for n in w.pipeline.notifications() if n["level"] == "ops"]
    assert told["message"]["siteId"] == site
    assert "router / ISP" in told["message"]["request"]
    records = [
        r
        for r in w.pipeline.audit_records()
        if r["action"] == "edge_offline_ladder" and r.get("outcome") == "SKIPPED_BY_GUARD"
    ]
    assert len(records) == len(members)
    evidence = f"all {len(members)} edges of site {site} went silent together"
    assert all(evidence in r["why"] for r in records), "the record says which evidence"


def test_one_silent_edge_of_a_working_site_is_diagnosed_not_declared_autonomous(
    edge_world: EdgeWorld,
) -> None:
    """Runbook 000 §1 maps a diagnosed cause to a fix: one edge gone while its neighbours
    are online is not the site's internet; its agent answers, so the process is hung."""
    w = edge_world
    [sim, *_] = w.start_edges([E1, E2, E3, E4])
    sim.kill()
    [run] = w.ladders(finished=1)

    assert run["states"][-1] == "Closed"
    assert [c["command"] for c in sim.commands] == ["probe", "restart"]
    [diagnosis] = [r for r in w.pipeline.audit_records() if r["action"] == "diagnosis"]
    assert "3 of 4 edges at the site are online" in diagnosis["why"]


def test_a_silent_edge_on_an_unknown_network_gets_no_replacement(edge_world: EdgeWorld) -> None:
    """Runbook 000 §1: "Hardware com falha | Trocar hardware" needs evidence of hardware:
    when no other edge of the site is seen online, the silence may be the site's network,
    so people are paged by severity and no replacement is requested."""
    w = edge_world
    [sim] = w.start_edges([E1], failure="hardware")
    sim.kill()
    [run] = w.ladders(finished=1)

    assert run["error"] == "selfheal.Escalated"
    assert [lvl for lvl, _, _ in offline_pages(w)] == ["l1", "l2", "l3"]
    assert not [p for p in w.pages() if "replacement" in p["subject"]]
    assert [c["command"] for c in sim.commands] == ["probe"]
    [diagnosis] = [r for r in w.pipeline.audit_records() if r["action"] == "diagnosis"]
    assert diagnosis["result"].startswith("cause: unreachable")
    assert "no other edge of the site is known online" in diagnosis["why"]


@pytest.mark.procedure("E9", "P2 within 1 h")
def test_an_outage_is_p3_until_it_has_lasted_ten_minutes(edge_world: EdgeWorld) -> None:
    """Runbook 000 §6: "P2 - HIGH | < 1h | Edge offline > 10min" - not P2 at t = 0."""
    w = edge_world
    [sim] = w.start_edges([E1], failure="hardware")
    w.start_edges([E2])
    sim.kill()
    w.ladders(finished=1)

    [change] = [r for r in w.pipeline.audit_records() if r["action"] == "severity"]
    assert change["result"].startswith("P3 -> P2") and "offline 10.0 min" in change["why"]
    pages = offline_pages(w)
    assert pages[0][1].startswith("[selfheal] P2 ") and pages[0][2] >= 10
    first_p2 = min(
        datetime.fromisoformat(n["message"]["at"])
        for n in w.pipeline.notifications()
        if "P2" in (n["subject"] or "")
    )
    assert datetime.fromisoformat(change["at"]) <= first_p2, "no P2 before 10 minutes"


@pytest.mark.procedure("E1", "site without internet but a P1 alarm active: paged on the P1 clock")
@pytest.mark.procedure("E9", "P1 within 15 min")
def test_a_p1_edge_of_a_site_without_internet_is_paged_not_closed_as_autonomous(
    edge_world: EdgeWorld,
) -> None:
    """Runbook 000 §1 "Edge em modo autônomo (sem internet) - Não é incidente", but §5 "P1 =
    Impacto crítico em bateria ou segurança" and §6 "P1 - CRITICAL | < 15 min | Over-temp":
    the site loses its internet while one edge reports an over-temperature. Its siblings are
    autonomous and not an incident; that edge is paged L1 at once, L2/L3 at 15/30 min, and
    nothing is sent to it."""
    w = edge_world
    sims = w.start_edges(RECIFE, agent=False)
    w.start_edges([E1, E2, E3, E4])
    hot = sims[0]
    hot.publish_status("online", alarms=["OVER_TEMPERATURE"])
    w.settle()
    w.outage(sims)
    runs = w.ladders(finished=len(RECIFE))

    by_edge = {e: r for r in runs for e in RECIFE if f"-{e}-" in r["incidentId"]}
    hot_run = by_edge[hot.edge_id]
    assert "SiteWithoutInternet" not in hot_run["states"], hot_run["states"]
    pages = [(lvl, s.split()[1], s.split()[2], m) for lvl, s, m in offline_pages(w)]
    assert [(lvl, sev, edge) for lvl, sev, edge, _ in pages] == [
        ("l1", "P1", hot.edge_id),
        ("l2", "P1", hot.edge_id),
        ("l3", "P1", hot.edge_id),
    ]
    for (_, _, _, minutes), due in zip(pages, (0, 15, 30), strict=True):
        assert due <= minutes < due + 1.5
    assert hot_run["error"] == "selfheal.Escalated", "never closed while it is still offline"
    assert [by_edge[e]["states"][-1] for e in RECIFE[1:]] == ["SiteWithoutInternet"] * 2
    assert w.commands_sent() == [], "no probe, no restart: nothing can reach the site"
    [record] = [
        r
        for r in w.pipeline.audit_records()
        if r["action"] == "edge_offline_ladder" and r.get("outcome") == "ESCALATED"
    ]
    assert "P1 battery/safety alarm active" in record["why"]


@pytest.mark.procedure("E9", "P1 within 15 min")
def test_an_edge_lost_with_a_battery_alarm_active_is_p1(edge_world: EdgeWorld) -> None:
    """Runbook 000 §6: "P1 - CRITICAL | < 15 min | Over-temp, E-Stop, Cell failure"; §5:
    "COMMUNICATION_LOSS → ver item 1 (edge offline)". Losing sight of an over-heating
    battery pages L1 at once and L2/L3 at 15/30 minutes."""
    w = edge_world
    [sim] = w.start_edges([E1], failure="hardware")
    w.start_edges([E2])
    sim.publish_status("online", alarms=["OVER_TEMPERATURE"])
    w.settle()
    sim.kill()
    [run] = w.ladders(finished=1)

    pages = offline_pages(w)
    assert [(lvl, s.split()[1]) for lvl, s, _ in pages] == [
        ("l1", "P1"),
        ("l2", "P1"),
        ("l3", "P1"),
    ]
    for (_, _, minutes), due in zip(pages, (0, 15, 30), strict=True):
        assert due <= minutes < due + 1.5
    assert run["error"] == "selfheal.Escalated"


@pytest.mark.procedure("E9", "P3 within 4 h")
def test_the_paging_override_is_per_severity(
    edge_world: EdgeWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Runbook 000 §6: "P3 - MEDIUM | < 4h | Latência alta, MQTT instável". An operator
    pages L1 after 5 minutes for P3 outages; P2's schedule stays the runbook's."""
    monkeypatch.setenv("SELFHEAL_EDGE_PAGE_MINUTES", "P3:l1=5")
    w = edge_world
    [sim] = w.start_edges([E1], failure="hardware")
    w.start_edges([E2])
    sim.kill()
    w.ladders(finished=1)

    pages = offline_pages(w)
    assert [(lvl, s.split()[1]) for lvl, s, _ in pages] == [
        ("l1", "P3"),
        ("l2", "P2"),
        ("l3", "P2"),
    ]
    for (_, _, minutes), due in zip(pages, (5, 30, 60), strict=True):
        assert due <= minutes < due + 1.5


@pytest.mark.procedure("E1", "no internet at the site: autonomous, not an incident")
def test_an_event_naming_another_site_counts_at_the_registry_site(
    edge_world: EdgeWorld,
) -> None:
    """Runbook 000 §1: "Sem internet no site" is about the edge's real site: an offline
    event for an edge of site-campinas that says site-recife must not slip past
    site-campinas' silence (and get a restart)."""
    w = edge_world
    p = w.pipeline
    sims = w.start_edges([E2, E3, E4], agent=False)
    edge_registry.record_signal(
        edges.Signal(edgeId=E1, kind="status", payload={"status": "online"})
    )
    with p.clock.held():
        for sim in sims:
            sim.kill()
        w.settle()
        [event] = edge_registry.record_signal(
            edges.Signal(edgeId=E1, kind="status", payload={"status": "offline"})
        )
        detail = {**event["Detail"], "siteId": "site-recife"}
        p.put_event(
            {
                "version": "0",
                "id": "forged-site",
                "detail-type": event["DetailType"],
                "source": event["Source"],
                "account": "123456789012",
                "time": p.clock.now().strftime("%Y-%m-%dT%H:%M:%SZ"),
                "region": "us-east-1",
                "resources": [],
                "detail": detail,
            },
            bus=edges.BUS,
        )
    runs = w.ladders(finished=4)

    assert [r["states"][-1] for r in runs] == ["SiteWithoutInternet"] * 4
    assert not [t for t in w.commands_sent() if f"/{E1}/" in t], "nothing sent to E1"
    [moved] = [r for r in p.audit_records() if r["action"] == "site_from_registry"]
    assert moved["why"] == "the event names site site-recife; the edge registry says site-campinas"


def test_an_edge_missing_from_the_registry_is_rejected_and_escalated(
    edge_world: EdgeWorld,
) -> None:
    """Bad input names the field and is kept; no ladder acts on an edge nobody registered."""
    p = edge_world.pipeline
    [arn] = p.put_event(
        {
            "version": "0",
            "id": "unknown-edge",
            "detail-type": edges.CONNECTIVITY,
            "source": edges.SOURCE,
            "account": "123456789012",
            "time": p.clock.now().strftime("%Y-%m-%dT%H:%M:%SZ"),
            "region": "us-east-1",
            "resources": [],
            "detail": {
                "edgeId": "edge-ghost-9",
                "siteId": "site-campinas",
                "state": "offline",
                "at": p.clock.now().isoformat(),
            },
        },
        bus=edges.BUS,
    )
    [run] = edge_world.ladders(finished=1)

    assert run["executionArn"] == arn and run["error"] == "selfheal.Failed"
    assert edge_world.commands_sent() == []
    [page] = [n for n in p.notifications() if n["level"] == "l1"]
    assert "detail.edgeId: 'edge-ghost-9' is not in the edge registry" in page["message"]["reason"]


@pytest.mark.procedure("E1", "back within the grace period")
def test_an_edge_back_within_the_grace_period_gets_nothing(edge_world: EdgeWorld) -> None:
    """Runbook 000 §1 symptoms: "Não há telemetria recente (> 30s sem dados)" - a blip
    that ends within the 2-minute grace is closed with its downtime: no probe, no page."""
    w = edge_world
    [sim] = w.start_edges([E1])
    with w.pipeline.clock.held():
        sim.kill()
        w.settle()
        assert w.broker.inflight.wait_delivered(f"lifo4/{E1}/status", 30)
        sim.start()
        w.settle()
    [run] = w.ladders(finished=1)

    assert run["states"][-1] == "Closed" and "Probe" not in run["states"]
    assert w.commands_sent() == [] and w.pages() == []
