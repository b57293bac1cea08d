"""The pure parts of the single-active ingestion lease (runbook 004: "Apenas 1 instância
deve estar em production!"): who keeps production, who is demoted, when it is fixed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from selfheal_shared.ingestion.ingestion_failover import trigger_of
from selfheal_shared.ingestion.ingestion_instances import (
    CONFLICT,
    FAILOVER,
    HANDBACK,
    Observed,
    choose,
    demotions,
    problem,
)
from selfheal_shared.ingestion.ingestion_lease import Lease, holder_of

NOW = datetime(2026, 11, 20, 15, 0, tzinfo=UTC)


def obs(name: str, priority: int, mode: str | None, healthy: bool = True) -> Observed:
    return Observed(name, priority, healthy, mode if healthy else None)


PRIMARY_DOWN = [obs("primary", 0, None, healthy=False), obs("backup", 1, "standby")]
BOTH_PRODUCTION = [obs("primary", 0, "production"), obs("backup", 1, "production")]


def test_primary_down_chooses_the_backup() -> None:
    assert choose(PRIMARY_DOWN, FAILOVER, "primary") == "backup"


def test_primary_back_is_chosen_over_the_backup_holding_the_lease() -> None:
    assert choose(BOTH_PRODUCTION, HANDBACK, "backup") == "primary"


def test_a_conflict_keeps_the_healthy_lease_holder() -> None:
    assert choose(BOTH_PRODUCTION, CONFLICT, "backup") == "backup"
    assert demotions(BOTH_PRODUCTION, "backup") == ["primary"]


def test_a_conflict_with_an_unhealthy_holder_falls_back_to_priority() -> None:
    assert choose(PRIMARY_DOWN, CONFLICT, "primary") == "backup"


def test_no_healthy_instance_chooses_none() -> None:
    assert choose([obs("primary", 0, None, healthy=False)], FAILOVER, None) is None


@pytest.mark.parametrize(
    ("observed", "holder", "expected"),
    [
        ([obs("primary", 0, "production"), obs("backup", 1, "standby")], "primary", None),
        (BOTH_PRODUCTION, "primary", "2 in production (primary, backup), lease holder primary"),
        (PRIMARY_DOWN, "backup", "0 in production (none), lease holder backup"),
        ([obs("primary", 0, "production")], None, "1 in production (primary), lease holder none"),
    ],
)
def test_fixed_only_with_exactly_one_in_production_holding_the_lease(
    observed: list[Observed], holder: str | None, expected: str | None
) -> None:
    assert problem(observed, holder) == expected


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
