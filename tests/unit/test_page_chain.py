"""One page chain per incident, on its system's policy: pages delivered to a subscriber in
time, stopped by an acknowledgement, one resolve per paged level."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from moto import mock_aws
from selfheal_shared.core import audit, clients, clock, page_chain

from local.page_receiver import PageReceiver
from tests.helpers import paging_tables

START = datetime(2026, 11, 20, 15, 0, tzinfo=UTC)


class World:
    def __init__(self, receiver: PageReceiver) -> None:
        self.receiver = receiver
        self.now = START

    def at(self, minutes: float) -> None:
        self.now = START + timedelta(minutes=minutes)

    def pages(self) -> list[tuple[str, str, str]]:
        return [
            (d["level"], json.loads(d["message"])["kind"], json.loads(d["message"])["dedupKey"])
            for d in self.receiver.received()
        ]

    def ladder(self, chain: page_chain.Chain, until: float, step: float = 1) -> None:
        """What a workflow's ladder step does each time it looks: page whoever is due."""
        minute = 0.0
        while minute <= until:
            self.at(minute)
            if (level := (page_chain.get(chain.incidentId) or chain).due().level) is not None:
                page_chain.page(chain, level, subject="s", message={"incidentId": chain.incidentId})
            minute += step


@pytest.fixture
def world(monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    with PageReceiver().running() as receiver, mock_aws():
        monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
        clients.reset()
        paging_tables(monkeypatch)
        sns = boto3.client("sns", region_name="us-east-1")
        for level in ("ops", "l1", "l2", "l3", "l4"):
            arn = sns.create_topic(Name=level)["TopicArn"]
            sns.subscribe(TopicArn=arn, Protocol="http", Endpoint=receiver.url(level))
            monkeypatch.setenv(f"SELFHEAL_TOPIC_{level.upper()}", arn)
        w = World(receiver)
        clock.install(lambda: w.now)
        try:
            yield w
        finally:
            clock.install(None)
            clients.reset()


def _p1(incident: str = "inc-1") -> page_chain.Chain:
    return page_chain.open_chain(incident, system="lifo4-ems", severity="P1", started=START)


def test_unacknowledged_p1_pages_l1_l2_l3_at_0_15_30_and_resolves_each(world: World) -> None:
    chain = _p1()
    world.ladder(chain, until=45)

    got = page_chain.get("inc-1")
    assert got is not None
    assert got.paged == {
        "l1": START.isoformat(),
        "l2": (START + timedelta(minutes=15)).isoformat(),
        "l3": (START + timedelta(minutes=30)).isoformat(),
    }
    assert world.pages() == [
        ("l1", "page", "inc-1"),
        ("l2", "page", "inc-1"),
        ("l3", "page", "inc-1"),
    ]

    assert page_chain.close("inc-1", subject="resolved", message={}) == ["l1", "l2", "l3"]
    assert page_chain.close("inc-1", subject="resolved", message={}) == [], "one resolve"
    assert world.pages()[3:] == [
        ("l1", "resolve", "inc-1"),
        ("l2", "resolve", "inc-1"),
        ("l3", "resolve", "inc-1"),
    ]


def test_acknowledged_at_10_no_l2_and_the_incident_stays_open(world: World) -> None:
    chain = _p1()
    world.ladder(chain, until=9)
    world.at(10)
    acked = page_chain.acknowledge("inc-1", by="maria")
    assert (acked.acknowledgedBy, acked.acknowledgedAt) == ("maria", world.now.isoformat())
    world.ladder(page_chain.get("inc-1") or chain, until=60)

    assert world.pages() == [("l1", "page", "inc-1")]
    assert acked.resolvedAt is None
    again = page_chain.acknowledge("inc-1", by="joão")
    assert again.acknowledgedBy == "maria", "the first acknowledgement is kept"
    world.at(75)
    assert page_chain.close("inc-1", subject="resolved", message={}) == ["l1"]
    [record] = [r["details"] for r in audit.history("inc-1") if r["action"] == "post_incident"]
    assert record["acknowledgement"] == {
        "by": "maria",
        "at": (START + timedelta(minutes=10)).isoformat(),
        "minutesAfterStart": 10.0,
    }
    assert record["downtimeMinutes"] == 75.0 and record["postMortem"] is True
    assert page_chain.close("inc-1", subject="resolved", message={}) == []
    assert [r["action"] for r in audit.history("inc-1")] == ["post_incident"], "written once"


def test_a_level_is_paged_once_however_often_it_is_asked(world: World) -> None:
    chain = _p1()
    assert page_chain.page(chain, "l1", subject="s", message={})
    assert not page_chain.page(chain, "l1", subject="s", message={})
    assert page_chain.open_chain("inc-1", system="lifo4-ems", severity="P1", started=START).paged
    assert world.pages() == [("l1", "page", "inc-1")]


def test_runbook_003_pages_l1_to_l4_at_15_30_60_120(world: World) -> None:
    chain = page_chain.open_chain("inf-1", system="big-brother", severity="incident", started=START)
    world.ladder(chain, until=130)
    got = page_chain.get("inf-1")
    assert got is not None
    assert {lv: datetime.fromisoformat(at) - START for lv, at in got.paged.items()} == {
        "l1": timedelta(minutes=15),
        "l2": timedelta(minutes=30),
        "l3": timedelta(minutes=60),
        "l4": timedelta(minutes=120),
    }
    assert [p[0] for p in world.pages()] == ["l1", "l2", "l3", "l4"]


def test_bad_acknowledgements_are_refused_naming_the_field(world: World) -> None:
    with pytest.raises(ValueError, match="incident: no page chain for 'nope'"):
        page_chain.acknowledge("nope", by="maria")
    _p1()
    with pytest.raises(ValueError, match="by: required"):
        page_chain.acknowledge("inc-1", by="  ")
    page_chain.close("inc-1", subject="r", message={})
    with pytest.raises(ValueError, match="was resolved at"):
        page_chain.acknowledge("inc-1", by="maria")
    with pytest.raises(ValueError, match="severity: 'P7'"):
        page_chain.open_chain("inc-2", system="lifo4-ems", severity="P7", started=START)


def test_selfheal_ack_stops_the_chain_and_refuses_what_it_cannot_ack(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    from local import cli

    chain = _p1()
    world.ladder(chain, until=5)
    assert cli.main(["ack", "inc-1", "--by", "maria", "--guard-table", "guard"]) == 0
    out = capsys.readouterr().out
    assert "inc-1 acknowledged by maria" in out and "the incident stays open" in out
    world.ladder(chain, until=60)
    assert world.pages() == [("l1", "page", "inc-1")]

    with pytest.raises(SystemExit, match="ack refused: incident: no page chain for 'inc-9'"):
        cli.main(["ack", "inc-9", "--by", "maria", "--guard-table", "guard"])


def test_a_resolve_whose_publish_failed_is_sent_by_the_retry_and_nobody_gets_two(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A close that fails publishing L2's resolve (SNS throttled) raises; its retry sends the
    resolve L2 is still owed, and not L1's again."""
    from selfheal_shared.core import notify

    chain = page_chain.open_chain("inc-9", system="lifo4-ems", severity="P1", started=START)
    world.ladder(chain, until=20)
    real = notify.publish

    def throttled(level: str, **kwargs: object) -> str:
        if level == "l2":
            raise RuntimeError("Throttling")
        return real(level, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(notify, "publish", throttled)
    with pytest.raises(RuntimeError, match="Throttling"):
        page_chain.close("inc-9", subject="resolved", message={})
    monkeypatch.setattr(notify, "publish", real)
    assert page_chain.close("inc-9", subject="resolved", message={}) == ["l2"]
    assert page_chain.close("inc-9", subject="resolved", message={}) == []
    resolves = [level for level, kind, _ in world.pages() if kind == "resolve"]
    assert sorted(resolves) == ["l1", "l2"]


def test_the_watcher_is_asked_for_the_next_level_in_utc_whatever_the_alarms_offset(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A raise time at -03:00 (Brazil) asks for the watcher's first look at L2's time in UTC
    (a Wait's timestamp), never the local wall time with a Z."""
    sent: list[dict[str, object]] = []

    class Events:
        def put_events(self, Entries: list[dict[str, str]]) -> dict[str, int]:
            sent.extend(json.loads(e["Detail"]) for e in Entries)
            return {"FailedEntryCount": 0}

    monkeypatch.setattr(
        page_chain, "client", lambda name: Events() if name == "events" else clients.client(name)
    )
    local = START.astimezone(datetime.strptime("-0300", "%z").tzinfo)
    chain = page_chain.open_chain(
        "inc-br", system="lifo4-ems", severity="P1", started=local, watch=True
    )
    page_chain.page(chain, "l1", subject="s", message={})
    page_chain.ask_for_watcher("inc-br")
    page_chain.ask_for_watcher("inc-br")  # a retry: the same event (its claim ends the second)
    assert [d["firstLookAt"] for d in sent] == ["2026-11-20T15:15:00Z"] * 2


def test_the_watcher_moves_on_when_another_pager_took_the_due_level(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A level another pager claims between the watcher's look and its claim is paged, not
    a sign that every level was: the watcher goes on to the next one (L3 at 30) instead of
    ending unanswered."""
    from selfheal_cdk import spec as spec_mod

    from local.lambda_adapter import LambdaContext, load_handler

    watch = load_handler(spec_mod.load().functions["page_chain_watch"])
    context = LambdaContext("page_chain_watch", "arn:aws:lambda:us-east-1:1:function:w", 256, 30)
    chain = page_chain.open_chain("inc-w", system="lifo4-ems", severity="P1", started=START)
    world.ladder(chain, until=0)
    world.at(15)
    real = page_chain.page

    def raced(c: page_chain.Chain, level: str, **kwargs: Any) -> bool:
        if level == "l2" and "l2" not in (page_chain.get(c.incidentId) or c).paged:
            assert real(c, level, subject="s", message={})  # the other pager, first
        return real(c, level, **kwargs)

    monkeypatch.setattr(page_chain, "page", raced)
    out = watch({"detail": {"incidentId": "inc-w"}, "executionId": "arn:x:exec:w"}, context)
    assert out["waitUntil"] == "2026-11-20T15:30:00Z" and out["outcome"] is None, out
    assert [level for level, kind, _ in world.pages() if kind == "page"] == ["l1", "l2"]


def test_selfheal_resolve_finds_the_stacks_topics_and_sends_each_level_one_resolve(
    world: World, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Against AWS the operator has no `SELFHEAL_TOPIC_*`: `selfheal resolve` finds the
    page topics the stacks display as `selfheal <level>` and sends L1 and L2 one resolve
    each, then pages nobody; a topic it cannot tell apart is refused naming the variable."""
    from local import cli

    chain = _p1()
    world.ladder(chain, until=20)
    sns = boto3.client("sns", region_name="us-east-1")
    for level in ("l1", "l2"):
        arn = os.environ[f"SELFHEAL_TOPIC_{level.upper()}"]
        sns.set_topic_attributes(
            TopicArn=arn, AttributeName="DisplayName", AttributeValue=f"selfheal {level}"
        )
        monkeypatch.delenv(f"SELFHEAL_TOPIC_{level.upper()}")
    decoy = sns.create_topic(Name="another-stack-l2")["TopicArn"]
    sns.set_topic_attributes(
        TopicArn=decoy, AttributeName="DisplayName", AttributeValue="selfheal l2"
    )
    tables = ["--guard-table", "guard", "--audit-table", "audit"]
    with pytest.raises(SystemExit, match=r"set SELFHEAL_TOPIC_L2 .*\(2 topics look like it"):
        cli.main(["resolve", "inc-1", "--by", "maria", "--cause", "fan failure", *tables])
    sns.delete_topic(TopicArn=decoy)
    assert world.pages() == [("l1", "page", "inc-1"), ("l2", "page", "inc-1")]

    assert cli.main(["resolve", "inc-1", "--by", "maria", "--cause", "fan failure", *tables]) == 0
    assert "inc-1 resolved by maria" in capsys.readouterr().out
    world.ladder(chain, until=60)
    assert world.pages()[2:] == [("l1", "resolve", "inc-1"), ("l2", "resolve", "inc-1")]
    [record] = [r for r in audit.history("inc-1") if r["action"] == "post_incident"]
    assert record["details"]["resolvedBy"] == "maria"
    assert record["details"]["rootCause"] == "fan failure"


def test_a_persons_resolve_cut_short_is_finished_by_their_retry_and_refused_after(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The resolve's publish to L2 fails (SNS throttled): the chain is resolved by ana and
    L1 has its resolve; ana's retry sends L2's and no second L1; a third resolve, or one by
    someone else, is refused saying when and by whom."""
    from selfheal_shared.core import notify, page_resolve

    chain = _p1()
    world.ladder(chain, until=20)
    person = page_resolve.check(by="ana", cause="fan failure")
    real = notify.publish

    def throttled(level: str, **kwargs: object) -> str:
        if level == "l2":
            raise RuntimeError("Throttling")
        return real(level, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(notify, "publish", throttled)
    with pytest.raises(RuntimeError, match="Throttling"):
        page_resolve.resolve("inc-1", person, actor="operator:ana")
    monkeypatch.setattr(notify, "publish", real)
    assert page_resolve.resolve("inc-1", person, actor="operator:ana").levels == ["l2"]
    for who in ("ana", "bruno"):
        with pytest.raises(page_resolve.AlreadyResolved, match=r"at 2026-11-20T15:20:00.* by ana"):
            page_resolve.resolve("inc-1", page_resolve.check(by=who, cause="x"), actor="op")
    resolves = [level for level, kind, _ in world.pages() if kind == "resolve"]
    assert sorted(resolves) == ["l1", "l2"]


def test_a_workflows_news_is_told_once_per_level_and_its_update_retried_after_a_failure(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`update`: a level named and not paged is paged on the chain; each level paged before
    hears the news once, even when the call is retried after SNS refused one of them."""
    from selfheal_shared.core import notify

    chain = _p1("inc-5")
    world.ladder(chain, until=1)  # L1 at 0
    world.at(5)
    real = notify.publish

    def throttled(level: str, **kwargs: object) -> str:
        if level == "l1":
            raise RuntimeError("Throttling")
        return real(level, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(notify, "publish", throttled)
    with pytest.raises(RuntimeError, match="Throttling"):
        page_chain.update(chain, ["l1", "l2"], news="gave-up", subject="s", message={})
    monkeypatch.setattr(notify, "publish", real)
    assert page_chain.update(chain, ["l1", "l2"], news="gave-up", subject="s", message={}) == (
        ["l2"],
        ["l1"],
    ), "L1's update, refused then, goes now, then L2's page"
    assert page_chain.update(chain, ["l1", "l2"], news="gave-up", subject="s", message={}) == (
        [],
        [],
    )
    assert world.pages() == [
        ("l1", "page", "inc-5"),
        ("l1", "update", "inc-5"),
        ("l2", "page", "inc-5"),
    ]
    world.at(6)
    page_chain.acknowledge("inc-5", by="ana")
    assert page_chain.update(chain, ["l3"], news="later", subject="s", message={}) == (
        [],
        ["l1", "l2"],
    ), "acknowledged: L3 is not paged; those paged hear the news"
    page_chain.close("inc-5", subject="resolved", message={})
    assert page_chain.update(chain, ["l3"], news="after", subject="s", message={}) == ([], [])


def test_held_time_is_added_once_and_the_ladder_resumes_where_it_stood(world: World) -> None:
    chain = _p1("inc-6")
    world.ladder(chain, until=1)
    world.at(15)  # L2 due: a silence holds it
    held = page_chain.hold(chain, silenced=True)
    world.at(40)
    assert held.ladder_minutes() == 15, "the ladder's clock stood still at 15"
    resumed = page_chain.hold(held, silenced=False)
    assert page_chain.hold(held, silenced=False).heldSeconds == 25 * 60, "added once"
    assert resumed.heldSince is None and resumed.due().level == "l2"
    assert resumed.ladder_at(30) == START + timedelta(minutes=55)
