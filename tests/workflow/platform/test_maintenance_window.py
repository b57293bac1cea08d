"""maintenance_window (runbook 001 "Janelas de Manutenção", catalog row D7) end to end on
the local pipeline: the real ASL on moto, the virtual clock through its three waits, the
backup read back from S3, the flag read from AppConfig's deployed configuration, the pages
as the topics' subscriber received them."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from selfheal_cdk import spec as spec_mod
from selfheal_shared.core import guards
from selfheal_shared.platform import maintenance_window as mw

from local.runtime import Pipeline
from local.schedules import ScheduleDisabled, fire, occurrences
from local.worlds import World
from local.worlds.platform import HEALTH_FUNCTIONS, MaintenanceWorld, seed_maintenance
from local.worlds.platform.maintenance_world import FLAG
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
    # The window did not hold its own flag change, made at that same moment.
    mode_on = [r for r in p.audit_records() if r["action"] == "maintenance_mode_on"]
    assert [r.get("outcome") for r in mode_on] == [None, "FIXED"]  # done; credited at the end
    assert mode_on[0]["result"].startswith("enable_maintenance_mode on in ")

    [after] = p.run_event(load_event(FIVE_XX))
    assert after["status"] == "SUCCEEDED", after["states"]
    assert live(p) == "2", "after the window the rollback acts as usual"


@pytest.mark.procedure("D7", "schedule trigger: the window starts leadMinutes after the fire time")
@pytest.mark.procedure("D7", "notify 30 min before")
def test_the_weekly_schedule_plans_sunday_02_00_brasilia_and_notifies_at_its_fire_time(
    make: Any,
) -> None:
    p, w = make()
    schedule = p.spec.schedules["maintenance_window_weekly"]
    fires = occurrences(schedule, p.clock.now())[0]
    assert (fires.strftime("%A %H:%M"), str(fires.tzinfo)) == ("Sunday 01:30", "America/Sao_Paulo")
    seen = watch_flag(p, w)
    arn = fire(p, "maintenance_window_weekly", fires, as_enabled=True)
    p.wait([arn], timeout=120)

    assert p.execution_summary(arn)["status"] == "SUCCEEDED"
    start = fires + timedelta(minutes=30)
    [notice] = notices(p)[:1]
    assert at(notice["message"]["at"]) == fires.astimezone(UTC), "30 minutes before 02:00"
    assert "starts in 30 minutes (" in notice["message"]["summary"]
    assert notice["message"]["startsAt"] == start.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert [(fn, on, when.astimezone(BRT).strftime("%a %H:%M")) for fn, on, when in seen] == [
        ("maintenance_window_flag", False, "Sun 02:00"),
        ("maintenance_window_flag", True, "Sun 04:00"),
        ("maintenance_window_health", False, "Sun 04:05"),
    ]
    window = guards._get(f"maintenance#{mw.SCOPE}")
    assert window is not None
    assert (at(window["startsAt"]), at(window["endsAt"])) == (start, start + timedelta(hours=2))


@pytest.mark.procedure("D7", "late notice: says how many minutes are really left")
def test_a_window_planned_10_minutes_ahead_says_its_notice_is_late(make: Any) -> None:
    p, _ = make()
    t0 = p.clock.now()
    arn = manual(p, ahead_minutes=10, minutes=30)

    assert p.execution_summary(arn)["status"] == "SUCCEEDED"
    [notice] = notices(p)[:1]
    assert at(notice["message"]["at"]) == t0, "sent at once"
    text = notice["message"]["summary"]
    assert text.startswith("LATE NOTICE (10 of the 30 minutes ahead)")
    assert "starts in 10 minutes" in text
    assert "30 minutes" not in notice["subject"]


@pytest.mark.procedure(
    "D7", "health check fails -> escalated with what failed, never 'operational'"
)
def test_a_failing_health_check_escalates_with_what_failed(make: Any) -> None:
    p, w = make()

    def break_two(name: str, _event: Any) -> None:
        if name != "maintenance_window_health":
            return
        p.client("lambda").delete_function(FunctionName="influxdb_loader")
        p.client("cloudwatch").put_metric_data(
            Namespace="AWS/Lambda",
            MetricData=[
                {
                    "MetricName": "Errors",
                    "Dimensions": [{"Name": "FunctionName", "Value": "rag_query_processor"}],
                    "Timestamp": p.clock.now() - timedelta(minutes=2),
                    "Value": 3,
                }
            ],
        )

    p.lambdas.before_invoke.append(break_two)
    arn = manual(p)

    assert p.execution_summary(arn)["status"] == "FAILED"
    assert not w.flag_on(p), "the maintenance mode is off all the same"
    said = [json.dumps(n["message"]) for n in p.notifications()]
    assert not [s for s in said if "operational" in s]
    assert not [n for n in p.notifications() if n["message"].get("outcome") == "FIXED"]
    pages = [n for n in p.notifications() if n["level"] == "l1"]
    assert pages, "L1 (Equipe de Operações) is paged"
    reason = pages[0]["message"]["reason"]
    assert "rag_query_processor: 3 errors" in reason
    assert "influxdb_loader: function not found" in reason
    assert "healthy: lambda_router, structured_data_processor" in reason


@pytest.mark.procedure("D7", "kill switch: nothing backed up, maintenance mode untouched, paged")
def test_the_kill_switch_holds_the_window_s_own_actions_and_pages(make: Any) -> None:
    p, w = make()
    guards.set_switch(guards.KILL_SWITCH, enabled=True, reason="incident freeze", actor="ops")
    seen = watch_flag(p, w)
    arn = manual(p)

    assert p.execution_summary(arn)["status"] == "SUCCEEDED"
    assert seen == [], "the flag switch never ran"
    assert "Contents" not in p.client("s3").list_objects_v2(Bucket=w.backup)
    assert not w.flag_on(p)
    assert not [r for r in p.audit_records() if r["action"].endswith("_intent")]
    pages = [n for n in p.notifications() if n["level"] == "l1"]
    assert pages and "kill_switch" in pages[0]["message"]["reason"]
    assert "maintenance mode not turned on" in pages[0]["message"]["reason"]


@pytest.mark.procedure(
    "D7", "kill switch during the window: maintenance mode left on, said so, paged"
)
def test_a_kill_switch_during_the_window_leaves_the_mode_on_and_says_so(make: Any) -> None:
    p, w = make()

    def switch_at_the_end(name: str, event: Any) -> None:
        if name == "maintenance_window_flag" and not event.get("on"):
            guards.set_switch(guards.KILL_SWITCH, enabled=True, reason="drill", actor="ops")

    p.lambdas.before_invoke.append(switch_at_the_end)
    arn = manual(p)

    assert p.execution_summary(arn)["status"] == "FAILED"
    assert w.flag_on(p), "the kill switch held turning it off"
    pages = [n for n in p.notifications() if n["level"] in ("l1", "l2")]
    assert {n["level"] for n in pages} == {"l1", "l2"}
    assert "did not turn the maintenance mode off" in pages[0]["message"]["reason"]
    assert not [n for n in p.notifications() if n["message"].get("outcome") == "FIXED"]


@pytest.mark.procedure("D7", "dry run: records what it would do, acts on nothing, paged")
def test_a_dry_run_records_what_it_would_do(make: Any) -> None:
    p, w = make()
    guards.set_switch(guards.DRY_RUN, enabled=True, reason="rehearsal", actor="ops")
    arn = manual(p)

    assert p.execution_summary(arn)["status"] == "SUCCEEDED"
    details = [json.loads(r.get("details") or "{}") for r in p.audit_records()]
    [would] = [d for d in details if d.get("guard") == "dry_run"]
    plan = would["wouldDo"]
    assert (
        plan["backup"] == f"copy s3://{w.processed} into s3://{w.backup} (dated prefix) and verify"
    )
    assert plan["maintenanceModeOn"].startswith("enable_maintenance_mode on at ")
    assert plan["healthCheck"] == list(HEALTH_FUNCTIONS)
    assert "Contents" not in p.client("s3").list_objects_v2(Bucket=w.backup)
    assert not w.flag_on(p)
    assert [n for n in p.notifications() if n["level"] == "l1"], "paged by the refusal rule"


@pytest.mark.procedure("D7", "bad manual input: rejected naming the field, nothing done")
@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"durationMinutes": None}, "durationMinutes: required field missing"),
        ({"durationMinutes": 0}, "durationMinutes"),
        ({"durationMinutes": 10}, "durationMinutes"),
        ({"durationMinutes": 721}, "durationMinutes"),
        ({"start": "2026-11-20T20:00:00"}, "start"),
        ({"reason": ""}, "reason"),
        ({"start": "2026-11-20T11:30:00-03:00"}, "start: 2026-11-20T11:30:00-03:00 is in the past"),
        ({"start": "2026-12-20T14:00:00-03:00"}, "more than 7 days ahead"),
    ],
)
def test_bad_manual_input_is_refused_naming_the_field(
    make: Any, change: dict[str, Any], field: str
) -> None:
    p, _ = make()  # now: 2026-11-20 12:00 Brasília time
    body: dict[str, Any] = {"start": "2026-11-20T16:00:00-03:00", "durationMinutes": 60,
                            "reason": "upgrade", **change}  # fmt: skip
    body = {k: v for k, v in body.items() if v is not None}
    arn = p.start_manual(WORKFLOW, body)
    p.wait([arn], timeout=60)

    summary = p.execution_summary(arn)
    assert summary["status"] == "FAILED"
    sfn = p.client("stepfunctions")
    assert json.loads(sfn.describe_execution(executionArn=arn)["input"]) == body, "kept"
    pages = [n for n in p.notifications() if n["level"] == "l1"]
    assert pages and field in pages[0]["message"]["reason"]
    assert guards._get(f"maintenance#{mw.SCOPE}") is None, "nothing in the calendar"
    assert not [n for n in notices(p) if n["level"] == "ops"]


@pytest.mark.procedure("D7", "overlapping window refused, the other kept, paged")
def test_a_window_over_another_planned_one_is_refused_and_the_other_kept(make: Any) -> None:
    p, w = make()
    now = p.clock.now()
    other = guards.plan_maintenance(
        mw.SCOPE, starts=now + timedelta(hours=1), ends=now + timedelta(hours=3),
        reason="database migration", window_id="other-window",
    )  # fmt: skip
    arn = manual(p, ahead_minutes=150, minutes=30)

    assert p.execution_summary(arn)["status"] == "FAILED"
    kept = guards._get(f"maintenance#{mw.SCOPE}")
    assert kept is not None
    assert (kept["windowId"], kept["endsAt"]) == ("other-window", other["endsAt"])
    pages = [n for n in p.notifications() if n["level"] == "l1"]
    assert pages and "database migration" in pages[0]["message"]["reason"]
    assert "MaintenanceConflict" in pages[0]["message"]["reason"]
    assert not w.flag_on(p)
    assert "Contents" not in p.client("s3").list_objects_v2(Bucket=w.backup)
    # The same window planned again (a retried step) is the same window; one already over
    # gives way to the next.
    again = guards.plan_maintenance(
        mw.SCOPE, starts=now + timedelta(hours=1), ends=now + timedelta(hours=3),
        reason="database migration", window_id="other-window",
    )  # fmt: skip
    assert again == other
    p.clock.advance(4 * 3600)
    later = p.clock.now()
    guards.plan_maintenance(
        mw.SCOPE, starts=later + timedelta(hours=1), ends=later + timedelta(hours=2),
        reason="next", window_id="next-window",
    )  # fmt: skip
    assert guards._get(f"maintenance#{mw.SCOPE}")["windowId"] == "next-window"


@pytest.mark.procedure("D7", "kill switch: nothing backed up, maintenance mode untouched, paged")
def test_the_kill_switch_after_the_backup_stops_the_window_and_pages(make: Any) -> None:
    """The reliability harness's case for a workflow no event starts (test_kill_switch's
    SAMPLELESS): the switch turned on right after the first action (the backup) → no action
    after it (no intent record), maintenance mode never turned on, and L1 paged."""
    p, w = make()
    switched: dict[str, int] = {}

    def switch_after_the_backup(name: str, _event: Any) -> None:
        if name == "maintenance_window_flag" and not switched:
            switched["intents"] = len(
                [r for r in p.audit_records() if r["action"].endswith("_intent")]
            )
            guards.set_switch(guards.KILL_SWITCH, enabled=True, reason="drill", actor="ops")

    p.lambdas.before_invoke.append(switch_after_the_backup)
    arn = manual(p)

    intents = [r["action"] for r in p.audit_records() if r["action"].endswith("_intent")]
    assert intents == ["backup_intent"] and switched["intents"] == 1
    assert not w.flag_on(p)
    assert p.execution_summary(arn)["status"] == "SUCCEEDED"
    refused = [r for r in p.audit_records() if r.get("outcome") == "SKIPPED_BY_GUARD"]
    assert [r["action"] for r in refused][:1] == ["maintenance_mode_on"]
    pages = [n for n in p.notifications() if n["level"] == "l1"]
    assert pages and "kill_switch" in pages[0]["message"]["reason"]
    assert "maintenance mode was not turned on" in pages[0]["message"]["reason"]


@pytest.mark.procedure("D7", "dry run: records what it would do, acts on nothing, paged")
@pytest.mark.procedure("D7", "kill switch: nothing backed up, maintenance mode untouched, paged")
@pytest.mark.parametrize("switch", [guards.DRY_RUN, guards.KILL_SWITCH])
def test_a_held_window_is_not_put_in_the_calendar_nor_announced(make: Any, switch: str) -> None:
    """The guard step comes before any effect: under a dry run or the kill switch the window
    does not go into the calendar (nothing would happen in it) and people are not told a
    maintenance is coming; the dry run's record keeps what it would do."""
    p, _ = make()
    guards.set_switch(switch, enabled=True, reason="rehearsal", actor="ops")
    arn = manual(p)

    assert p.execution_summary(arn)["status"] == "SUCCEEDED"
    assert guards._get(f"maintenance#{mw.SCOPE}") is None, "no calendar entry"
    announced = [n for n in notices(p) if f"{mw.SYSTEM} maintenance" in n["subject"]]
    assert announced == [], "no maintenance notice to people"
    assert not [r for r in p.audit_records() if r["action"] == "plan_window"]
    if switch == guards.DRY_RUN:
        details = [json.loads(r.get("details") or "{}") for r in p.audit_records()]
        [would] = [d for d in details if d.get("guard") == "dry_run"]
        assert would["wouldDo"]["calendar"].endswith(" in the platform calendar")
        assert would["wouldDo"]["notice"].startswith("notify ops at ")


@pytest.mark.procedure("D7", "schedule trigger: shipped disabled, enabled by the operator")
def test_the_disabled_weekly_schedule_starts_nothing(make: Any) -> None:
    p, _ = make()
    with pytest.raises(ScheduleDisabled, match="maintenance_window_weekly"):
        fire(p, "maintenance_window_weekly")
    assert (
        p.client("stepfunctions").list_executions(stateMachineArn=p.state_machines[WORKFLOW])[
            "executions"
        ]
        == []
    )
    assert guards._get(f"maintenance#{mw.SCOPE}") is None


def _target(w: MaintenanceWorld) -> mw.AppConfigTarget:
    return mw.AppConfigTarget(application=w.application, environment=w.environment,
                              profile=w.profile)  # fmt: skip


@pytest.mark.procedure("D7", "mode already on before the window: left on, said so")
def test_a_mode_the_window_did_not_turn_on_is_not_turned_off(make: Any) -> None:
    from selfheal_shared.platform import maintenance_window_store as store

    p, w = make()
    store.set_flags(_target(w), {FLAG: True}, "people-key", "turned on by people")
    assert w.flag_on(p)
    arn = manual(p)

    assert p.execution_summary(arn)["status"] == "SUCCEEDED"
    assert w.flag_on(p), "people turned it on: the window leaves it on"
    assert not [r for r in p.audit_records() if r["action"].startswith("maintenance_mode_off")]
    [done] = [n for n in p.notifications() if n["message"].get("outcome") == "FIXED"]
    assert "left as it was" in done["message"]["summary"]
    assert "maintenance mode off" not in done["message"]["summary"]


@pytest.mark.procedure("D7", "mode on fails: turned off at the end anyway, failure paged")
def test_a_failed_mode_on_is_still_turned_off_at_the_end_and_paged(
    make: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The deployment turning it on landed but the step failed after it: the mode is on and
    the window still turns it off at its end, then pages the failure."""
    from selfheal_shared.platform import maintenance_window_store as store

    p, w = make()
    real = store.deployed
    broken: list[bool] = []

    def deployed(target: mw.AppConfigTarget) -> tuple[int | None, dict[str, Any]]:
        if broken and not broken[0]:
            broken[0] = True
            store.set_flags(target, {FLAG: True}, "landed-key", "landed, then the step broke")
            raise RuntimeError("read back failed")
        return real(target)

    def arm(name: str, event: Any) -> None:
        if name == "maintenance_window_flag" and event.get("on") and not broken:
            broken.append(False)

    monkeypatch.setattr(store, "deployed", deployed)
    p.lambdas.before_invoke.append(arm)
    arn = manual(p)

    run = p.execution_summary(arn)
    assert run["status"] == "FAILED"
    assert not w.flag_on(p), "turned off at the end of the window"
    assert "MaintenanceModeOffAfterFailure" in run["states"]
    pages = [n for n in p.notifications() if n["level"] == "l1"]
    assert pages and "could not be turned on" in json.dumps(pages[0]["message"])
    assert not [n for n in p.notifications() if n["message"].get("outcome") == "FIXED"]
