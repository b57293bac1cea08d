"""The pure parts of the ingestion failover (runbook 004: "Apenas 1 instância deve estar
em production!"): who keeps production, what the others need (development on a host that
answers, a database fence on one that does not), what an instance's and the database's
answers say, and when the rows prove it done."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from selfheal_shared.ingestion.ingestion_failover import trigger_of
from selfheal_shared.ingestion.ingestion_instances import (
    CONFLICT,
    FAILOVER,
    HANDBACK,
    Instance,
    Observed,
    Step,
    Writers,
    choose,
    judge,
    parse_observed,
    parse_writers,
    plan,
)
from selfheal_shared.ingestion.ingestion_lease import Lease, holder_of

NOW = datetime(2026, 11, 20, 15, 0, tzinfo=UTC)
ROLES = {"primary": "aupus_vps", "backup": "aupus_backup"}
PRIMARY = Instance(name="primary", host="aupus-vps", role="aupus_vps",
                   instanceId="production-server", priority=0, runAs="aupus",
                   directory="aupus-service-api")  # fmt: skip


def obs(name: str, priority: int, mode: str | None, reachable: bool = True) -> Observed:
    if not reachable:
        return Observed(name, priority, False, error="TimedOut Delivery Timed Out")
    return Observed(name, priority, True, running=mode is not None, mode=mode,
                    envMode=mode or "production", connected=mode is not None, p2002=0)  # fmt: skip


PRIMARY_DOWN = [obs("primary", 0, None, reachable=False), obs("backup", 1, "development")]
BOTH_PRODUCTION = [obs("primary", 0, "production"), obs("backup", 1, "production")]


def test_primary_unreachable_chooses_the_backup() -> None:
    assert choose(PRIMARY_DOWN, FAILOVER, "primary") == "backup"


def test_primary_back_is_chosen_over_the_backup_holding_the_lease() -> None:
    assert choose(BOTH_PRODUCTION, HANDBACK, "backup") == "primary"


def test_a_conflict_keeps_the_healthy_lease_holder() -> None:
    assert choose(BOTH_PRODUCTION, CONFLICT, "backup") == "backup"


def test_a_conflict_with_an_unhealthy_holder_falls_back_to_priority() -> None:
    assert choose(PRIMARY_DOWN, CONFLICT, "primary") == "backup"


def test_no_healthy_instance_chooses_none() -> None:
    assert choose([obs("primary", 0, None, reachable=False)], FAILOVER, None) is None


def test_an_unreachable_primary_is_fenced_before_the_backup_is_promoted() -> None:
    assert plan(PRIMARY_DOWN, "backup", ROLES, {"aupus_vps": True}) == [
        Step("fence", "primary", "primary does not answer and its role may still write"),
        Step("promote", "backup", "backup is to be the only instance in production"),
    ]


def test_an_unreachable_primary_already_fenced_is_left_alone() -> None:
    steps = plan(PRIMARY_DOWN, "backup", ROLES, {"aupus_vps": False})
    assert [(s.action, s.name) for s in steps] == [("promote", "backup")]


def test_the_conflict_demotes_the_other_and_leaves_the_holder() -> None:
    steps = plan(BOTH_PRODUCTION, "primary", ROLES, {})
    assert [(s.action, s.name) for s in steps] == [("demote", "backup")]


def test_the_hand_back_demotes_the_backup_before_unfencing_the_primary() -> None:
    steps = plan(BOTH_PRODUCTION, "primary", ROLES, {"aupus_vps": False, "aupus_backup": True})
    assert [(s.action, s.name) for s in steps] == [("demote", "backup"), ("unfence", "primary")]


def test_a_stopped_instance_with_production_in_env_is_fenced_not_started() -> None:
    stopped = Observed("primary", 0, True, running=False, envMode="production", p2002=0)
    steps = plan([stopped, obs("backup", 1, "development")], "backup", ROLES, {})
    assert [(s.action, s.name) for s in steps] == [("fence", "primary"), ("promote", "backup")]


def test_what_observe_printed_is_read() -> None:
    mqtt = '{"status": "connected", "subscribedTopics": 4, "mode": "production", "instanceId": "x"}'
    stdout = f"env_mode=production\ninstance_id=x\npid=4242\nmqtt={mqtt}\np2002=3\n"
    seen = parse_observed(PRIMARY, {"status": "Success", "stdout": stdout})
    assert seen == Observed("primary", 0, True, running=True, mode="production",
                            envMode="production", connected=True, p2002=3)  # fmt: skip
    down = "env_mode=production\ninstance_id=x\npid=0\nmqtt=\np2002=0\n"
    seen = parse_observed(PRIMARY, {"status": "Success", "stdout": down})
    assert not seen.healthy and seen.mode is None and seen.envMode == "production"
    lost = parse_observed(PRIMARY, {"status": "TimedOut", "details": "Delivery Timed Out"})
    assert not lost.reachable and lost.error == "TimedOut Delivery Timed Out"


def test_what_writers_printed_is_read() -> None:
    t = "2026-12-07T02:29:08.543914Z"
    out = f"now|{t}\nwrote|aupus-backup|3|{t}|{t}\ninsert|aupus_backup|t\ninsert|aupus_vps|f\n"
    w = parse_writers("recent", out)
    assert (w.now, w.wrote, w.insert) == (t, {"aupus-backup": 3},
                                          {"aupus_backup": True, "aupus_vps": False})  # fmt: skip
    with pytest.raises(RuntimeError, match="no time"):
        parse_writers("recent", "")


@pytest.mark.parametrize(
    ("wrote", "after", "expected"),
    [
        ({"production-server": 5}, {"primary": 3}, None),
        ({}, {"primary": 3}, "no row from production-server since the switch (no data arriving)"),
        ({"production-server": 5, "dev-laptop": 2}, {"primary": 3},
         "rows from dev-laptop since the switch"),
        ({"production-server": 5}, {"primary": 5}, "2 new P2002 on primary"),
        ({"production-server": 5}, {"primary": None}, None),
    ],
)  # fmt: skip
def test_fixed_only_when_the_rows_show_the_kept_instance_alone_and_no_new_p2002(
    wrote: dict[str, int], after: dict[str, int | None], expected: str | None
) -> None:
    writers = Writers("t", "s", wrote)
    assert judge(PRIMARY, writers, {"primary": 3}, after) == expected


def test_an_expired_lease_has_no_holder() -> None:
    lease = Lease("g", "primary", 3, NOW + timedelta(minutes=1))
    assert holder_of(lease, NOW) == "primary"
    assert holder_of(lease, NOW + timedelta(minutes=1)) is None
    assert holder_of(None, NOW) is None


@pytest.mark.parametrize(
    ("metric", "state", "expected"),
    [
        ("InstanceHealthy", "ALARM", FAILOVER),
        ("InstanceHealthy", "OK", HANDBACK),
        ("InstanceHealthy", "INSUFFICIENT_DATA", None),
        ("P2002Errors", "ALARM", CONFLICT),
        ("P2002Errors", "OK", None),
        ("CoveragePercent", "ALARM", None),
    ],
)
def test_which_transition_asks_for_what(metric: str, state: str, expected: str | None) -> None:
    assert trigger_of(metric, state) == expected
