"""maintenance_window (runbook 001 "Janelas de Manutenção", catalog row D7) end to end on
the local pipeline: the real ASL on moto, the virtual clock through its three waits, the
backup read back from S3, the flag read from AppConfig's deployed configuration, the pages
as the topics' subscriber received them."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from selfheal_cdk import spec as spec_mod

from local.runtime import Pipeline
from local.worlds import World
from local.worlds.platform import HEALTH_FUNCTIONS, MaintenanceWorld, seed_maintenance
from tests.helpers import FIVE_XX, load_event, spec_for

BRT = ZoneInfo("America/Sao_Paulo")
WORKFLOW = "maintenance_window"


@pytest.fixture(scope="module")
def platform_spec() -> spec_mod.Spec:
    """The window and the D1 rollback (the automation it must hold) only."""
    return spec_for((WORKFLOW, "rollback_on_5xx"))


@pytest.fixture
def make(platform_spec: spec_mod.Spec) -> Iterator[Any]:
    started: list[Pipeline] = []

    def build(*, services: bool = False) -> tuple[Pipeline, MaintenanceWorld]:
        spec = World.load().spec.model_copy(deep=True)
        spec.ingestion, spec.edgeSites = [], []
        spec.fiscal = spec.forecasting = None
        if not services:
            spec.services, spec.apis, spec.compositeAlarms = [], [], []
        p = Pipeline(world=World(spec), spec=platform_spec)
        p.__enter__()
        started.append(p)
        return p, seed_maintenance(p)

    yield build
    for p in reversed(started):
        p.__exit__(None, None, None)


def manual(p: Pipeline, *, ahead_minutes: float = 120, minutes: int = 60, **extra: Any) -> str:
    start = (p.clock.now() + timedelta(minutes=ahead_minutes)).astimezone(BRT)
    body = {"start": start.isoformat(), "durationMinutes": minutes, "reason": "upgrade", **extra}
    arn = p.start_manual(WORKFLOW, body)
    p.wait([arn], timeout=120)
    return arn


def at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def notices(p: Pipeline) -> list[dict[str, Any]]:
    return [n for n in p.notifications() if "maintenance" in (n["subject"] or "").lower()]


def watch_flag(p: Pipeline, w: MaintenanceWorld) -> list[tuple[str, bool, datetime]]:
    """(function, flag on in AppConfig's deployed configuration, virtual time) right before
    each call of the window's flag switch and of its health check."""
    seen: list[tuple[str, bool, datetime]] = []

    def hook(name: str, _event: Any) -> None:
        if name in ("maintenance_window_flag", "maintenance_window_health"):
            seen.append((name, w.flag_on(p), p.clock.now()))

    p.lambdas.before_invoke.append(hook)
    return seen


@pytest.mark.procedure("D7", "manual trigger")
@pytest.mark.procedure("D7", "notify 30 min before")
@pytest.mark.procedure("D7", "backup, maintenance mode on and off")
@pytest.mark.procedure("D7", "health check and notify done")
def test_a_manual_window_notifies_backs_up_switches_and_reports(make: Any) -> None:
    p, w = make()
    t0 = p.clock.now()
    seen = watch_flag(p, w)
    arn = manual(p, ahead_minutes=120, minutes=60)
    start, end = t0 + timedelta(minutes=120), t0 + timedelta(minutes=180)

    assert p.execution_summary(arn)["status"] == "SUCCEEDED"
    # The notice: on the ops topic, 30 virtual minutes before the start, saying 30 minutes.
    [notice] = [n for n in notices(p) if "in 30 minutes" in n["subject"]]
    assert notice["level"] == "ops"
    assert at(notice["message"]["at"]) == start - timedelta(minutes=30)
    assert "starts in 30 minutes" in notice["message"]["summary"]
    assert "API may be temporarily unavailable" in notice["message"]["summary"]
    # The backup: every object of the processed bucket, same size and checksum, under a
    # prefix dated by the window's start.
    s3 = p.client("s3")
    source = {o["Key"]: o for o in s3.list_objects_v2(Bucket=w.processed)["Contents"]}
    copies = s3.list_objects_v2(Bucket=w.backup, Prefix="maintenance-backup/")["Contents"]
    assert len(source) == 12
    prefix = f"maintenance-backup/{start:%Y%m%d}/"
    assert {c["Key"].split("/", 3)[3] for c in copies} == set(source)
    assert all(c["Key"].startswith(prefix) for c in copies)
    assert all(c["ETag"] == source[c["Key"].split("/", 3)[3]]["ETag"] for c in copies)
    # The flag: off before the start, on at the start (deployed), off at the end (deployed),
    # and off when the health check runs.
    assert seen == [
        ("maintenance_window_flag", False, start),
        ("maintenance_window_flag", True, end),
        ("maintenance_window_health", False, end + timedelta(minutes=5)),
    ]
    assert not w.flag_on(p)
    # The result: FIXED, all systems operational, naming every function checked.
    [done] = [n for n in p.notifications() if n["message"].get("outcome") == "FIXED"]
    assert done["level"] == "ops"
    assert "all systems operational" in done["message"]["summary"]
    assert all(fn in done["message"]["summary"] for fn in HEALTH_FUNCTIONS)
    assert not [n for n in p.notifications() if n["level"] in ("l1", "l2", "l3")]


def live(p: Pipeline) -> str:
    return str(
        p.client("lambda").get_alias(FunctionName="orders-api", Name="live")["FunctionVersion"]
    )


@pytest.mark.procedure("D7", "automation respects the window")
def test_the_rollback_is_held_during_the_window_and_acts_after_it(make: Any) -> None:
    """D1's alarm while the window is in force (the moment maintenance mode goes on): held
    by the maintenance_window guard, nothing rolled back, L1 paged (the refusal rule). The
    same alarm after the window: rolled back as usual."""
    p, _ = make(services=True)
    during: dict[str, Any] = {}

    def alarm_during_the_window(name: str, event: Any) -> None:
        if name == "maintenance_window_flag" and event.get("on") and not during:
            during["at"] = p.clock.now()
            during["runs"] = p.run_event(load_event(FIVE_XX))
            during["alias"] = live(p)
            during["pages"] = [n for n in p.notifications() if n["level"] == "l1"]

    p.lambdas.before_invoke.append(alarm_during_the_window)
    arn = manual(p, ahead_minutes=60, minutes=60)
    assert p.execution_summary(arn)["status"] == "SUCCEEDED"

    [held] = during["runs"]
    assert held["workflow"] == "rollback_on_5xx"
    refusals = [a for a in held["actions"] if a["outcome"] == "SKIPPED_BY_GUARD"]
    assert (
        refusals
        and "maintenance window on system:ons-data-platform"
        in refusals[0]["result"] + refusals[0]["why"]
    )
    assert during["alias"] == "3", "nothing rolled back during the window"
    assert during["pages"], "the held incident is paged (L1), never closed quietly"
    assert not [r for r in p.audit_records() if r["action"] == "rollback_alias_intent"]

    [after] = p.run_event(load_event(FIVE_XX))
    assert after["status"] == "SUCCEEDED", after["states"]
    assert live(p) == "2", "after the window the rollback acts as usual"
