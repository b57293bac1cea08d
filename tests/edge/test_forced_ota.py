"""Forced OTA (runbook 000 §2, catalog E2) end to end over the real broker: the manual
request `{version, targetEdgeIds, skipCanary, force}` runs the `forced_ota` workflow; AWS IoT
Jobs (moto's control plane, `local/iot_jobs.py` playing the data plane) rolls the version
out to the simulated edge agents, which install it and report it themselves."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from local.worlds.edge import EdgeSim
from tests.edge.conftest import EdgeWorld

VERSION = "1.2.0"
OLD = "1.1.0"


def window(w: EdgeWorld, edge_id: str, start: int = 0, end: int = 24) -> None:
    """The system's maintenance window setting; `{0, 24}` is the runbook's "janela imediata"."""
    w.pipeline.client("dynamodb").put_item(
        TableName=w.pipeline.tables["guard_state"],
        Item={
            "pk": {"S": f"maintenance-window#{edge_id}"},
            "startHour": {"N": str(start)},
            "endHour": {"N": str(end)},
        },
    )


def idle_edges(w: EdgeWorld, ids: list[str], *, soc: float = 64.0) -> list[EdgeSim]:
    """Edges online, idle (no power flow), SOC `soc`, in an open maintenance window."""
    sims = w.start_edges(ids)
    for sim in sims:
        sim.power_kw = 0.0
        sim.publish_telemetry(soc=soc)
        window(w, sim.edge_id)
    w.settle()
    return sims


def ota(
    w: EdgeWorld, targets: list[str], *, timers: dict[float, Any] | None = None, **extra: Any
) -> dict[str, Any]:
    """The OTA run, and `timers` (seconds after its start -> what happens then) set at the
    instant it starts."""
    with w.pipeline.clock.held():
        for seconds, fn in (timers or {}).items():
            w.pipeline.clock.call_later(seconds, fn)
        w.pipeline.start_manual(
            "forced_ota", {"version": VERSION, "targetEdgeIds": targets, **extra}
        )
    [run] = w.ladders(finished=1, workflow="forced_ota", timeout=600)
    return run


def records(w: EdgeWorld, action: str) -> list[dict[str, Any]]:
    return [r for r in w.pipeline.audit_records() if r["action"] == action]


def reported(w: EdgeWorld, edge_id: str) -> str:
    item = w.pipeline.client("dynamodb").get_item(
        TableName=w.pipeline.tables["guard_state"], Key={"pk": {"S": f"edge#{edge_id}"}}
    )["Item"]
    return str(item.get("firmwareVersion", {}).get("S", ""))


def jobs_of(w: EdgeWorld) -> dict[str, dict[str, Any]]:
    iot = w.pipeline.client("iot")
    return {j["jobId"]: iot.describe_job(jobId=j["jobId"])["job"] for j in iot.list_jobs()["jobs"]}


@pytest.mark.procedure("E2", "blocked: active operation")
@pytest.mark.procedure("E2", "blocked: critical alarm active")
@pytest.mark.procedure("E2", "blocked: SOC below 20 %")
@pytest.mark.procedure("E2", "blocked: outside the maintenance window")
def test_each_blocker_refuses_its_edge_with_its_reason(edge_world: EdgeWorld) -> None:
    """Runbook 000 §2 "Bloqueios comuns": "1. Verificar se edge está em operação ativa";
    "2. Se há alarme crítico ativo, resolver primeiro"; "3. Se SOC < 20%, aguardar ou
    carregar manualmente"; "4. Verificar janela de manutenção (padrão 02:00–05:00)"; and an
    over-temperature restart lock ("NÃO religar até normalizar temperatura") holds."""  # noqa: RUF002
    w = edge_world
    ids = [f"edge-cps-00{n}" for n in range(1, 5)] + ["edge-rec-001", "edge-rec-002"]
    busy, alarmed, low, locked, late, garbled = idle_edges(w, ids)
    w.pipeline.client("dynamodb").put_item(  # a setting nobody can read: refused, not guessed
        TableName=w.pipeline.tables["guard_state"],
        Item={"pk": {"S": "maintenance-window#edge-rec-002"}, "startHour": {"S": "two"}},
    )
    busy.power_kw = 12.5
    busy.publish_telemetry()
    # The controller's status lists its active alarms (runbook 000 §2 `/systems/{id}/status`).
    alarmed.publish_status("online", alarms=["CELL_VOLTAGE_IMBALANCE"])
    low.publish_telemetry(soc=12.0)
    w.pipeline.client("dynamodb").put_item(
        TableName=w.pipeline.tables["guard_state"],
        Item={
            "pk": {"S": "restart-lock#edge-cps-004"},
            "state": {"S": "held"},
            "since": {"S": w.pipeline.clock.now().isoformat()},
            "reason": {"S": "OVER_TEMPERATURE raised"},
        },
    )
    w.pipeline.client("dynamodb").delete_item(
        TableName=w.pipeline.tables["guard_state"],
        Key={"pk": {"S": "maintenance-window#edge-rec-001"}},
    )
    w.settle()

    # `force` reinstalls a version; it skips no blocker.
    run = ota(w, [s.edge_id for s in (busy, alarmed, low, locked, late, garbled)], force=True)

    assert run["status"] == "SUCCEEDED" and run["states"][-1] == "Refused", run["states"]
    why = {r["result"].split(":")[0]: r["result"] for r in records(w, "ota_refused")}
    assert "in active operation: 12.5 kW" in why["edge-cps-001"]
    assert "critical alarm active: CELL_VOLTAGE_IMBALANCE" in why["edge-cps-002"]
    assert "SOC 12 % < 20 %" in why["edge-cps-003"]
    assert "restart lock held" in why["edge-cps-004"]
    # 15:00 UTC is 12:00 in São Paulo: outside the default 02:00-05:00 local window.
    assert (
        "outside the maintenance window 02:00-05:00 America/Sao_Paulo (now 12:00)"
        in why["edge-rec-001"]
    )
    assert "maintenance window setting unreadable" in why["edge-rec-002"]
    assert all(len(v.split(";")) == 1 for k, v in why.items() if k != "edge-rec-002")
    assert not jobs_of(w), "no IoT job"
    assert all(not [c for c in s.commands if c["command"] == "ota"] for s in w.sims.values())
    told = {
        n["level"]: n["message"]
        for n in w.pipeline.notifications()
        if n["message"].get("automation") == "forced_ota"
    }
    assert sorted(told) == ["l1", "ops"], "the operator and L1 hear why nothing was sent"
    assert told["ops"]["outcome"] == "SKIPPED_BY_GUARD"
    assert "edge-rec-001 (outside the maintenance window" in told["ops"]["summary"]


@pytest.mark.procedure("E2", "canary then rate-capped rollout")
@pytest.mark.procedure("E2", "the system's window setting overrides the default window")
def test_canary_then_rate_capped_rollout_verified_on_each_edge_report(
    edge_world: EdgeWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Runbook 000 §2: `"skipCanary": true` skips the canary, so by default one edge takes the
    version first; the rest follow at a capped rate (IoT Jobs `maximumPerMinute`); "Monitorar
    progresso" (`/ota/deployments/latest`): each step is in the timeline."""
    monkeypatch.setenv("SELFHEAL_OTA_MAX_PER_MINUTE", "2")
    w = edge_world
    ids = ["edge-cps-001", "edge-cps-002", "edge-cps-003", "edge-cps-004", "edge-rec-001"]
    idle_edges(w, ids)
    [low] = idle_edges(w, ["edge-rec-002"], soc=15.0)
    start = w.pipeline.clock.now()
    local = start.astimezone(ZoneInfo("America/Sao_Paulo"))
    assert not 2 <= local.hour < 5, "outside the default 02:00-05:00: only the setting lets it in"

    run = ota(w, [*ids, low.edge_id])

    assert run["status"] == "SUCCEEDED" and run["states"][-1] == "Updated", run["states"]
    assert all(reported(w, e) == VERSION for e in ids)
    assert reported(w, low.edge_id) == OLD and not low.commands, "refused: SOC below 20 %"
    jobs = jobs_of(w)
    canary = next(j for j in jobs.values() if j["jobId"].endswith("-canary"))
    rollout = next(j for j in jobs.values() if j["jobId"].endswith("-rollout"))
    assert [t.rsplit("/", 1)[-1] for t in canary["targets"]] == ["edge-cps-001"]
    assert len(rollout["targets"]) == 4
    assert canary["status"] == rollout["status"] == "COMPLETED"
    # The rollout starts only after the canary reported the version; 2 per minute at most.
    assert w.jobs is not None
    sent = [(job, thing, datetime.fromisoformat(at)) for job, thing, at in w.jobs.notifications]
    canary_at = max(at for job, _, at in sent if job.endswith("-canary"))
    rolled = [at for job, _, at in sent if job.endswith("-rollout")]
    assert min(rolled) >= canary_at + timedelta(seconds=60)
    assert all(sum(1 for t in rolled if t <= at < t + timedelta(seconds=60)) <= 2 for at in rolled)
    assert max(rolled) - min(rolled) >= timedelta(seconds=60)
    progress = records(w, "ota_progress")
    assert any("in progress" in r["result"] for r in progress), "progress is in the timeline"
    [fixed] = [n for n in w.pipeline.notifications() if n["message"].get("outcome") == "FIXED"]
    summary = fixed["message"]["summary"]
    assert "rollout: 4 of 4 edge(s) report 1.2.0" in summary
    assert "edge-rec-002 (SOC 15 % < 20 %)" in summary
    assert max(rolled) - start < timedelta(minutes=10)


@pytest.mark.procedure("E2", "canary then rate-capped rollout")
def test_canary_failure_aborts_the_rollout(edge_world: EdgeWorld) -> None:
    """Runbook 000 §2 (the canary is what `skipCanary` skips): a canary that does not take
    the version stops the deployment before any other edge is touched."""
    w = edge_world
    canary, *rest = idle_edges(w, ["edge-cps-001", "edge-cps-002", "edge-cps-003"])
    canary.ota_fails = True

    run = ota(w, ["edge-cps-001", "edge-cps-002", "edge-cps-003"])

    assert run["status"] == "FAILED" and run["states"][-1] == "NotFixed", run["states"]
    assert all(not s.commands for s in rest), "the rollout never started"
    assert [j for j in jobs_of(w) if j.endswith("-rollout")] == []
    assert all(reported(w, e) == OLD for e in w.sims)
    [page] = [n for n in w.pages() if n["message"].get("automation") == "forced_ota"]
    assert page["level"] == "l1"
    assert "rollout not started" in str(page["message"])


@pytest.mark.procedure("E2", "roll back on failure")
def test_failure_threshold_aborts_the_rollout_and_rolls_back_the_updated_edges(
    edge_world: EdgeWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Runbook 000 §1 "Partição com problema | Forçar rollback OTA via API": once the
    rollout's failures pass the abort threshold (IoT Jobs `abortConfig`), the edges that
    took the version go back to the one each reported before."""
    monkeypatch.setenv("SELFHEAL_OTA_MAX_PER_MINUTE", "2")
    monkeypatch.setenv("SELFHEAL_OTA_ABORT_FAILED_PERCENT", "50")
    monkeypatch.setenv("SELFHEAL_OTA_ABORT_MIN_EXECUTED", "2")
    w = edge_world
    ids = ["edge-cps-001", "edge-cps-002", "edge-cps-003", "edge-cps-004", "edge-rec-001"]
    sims = idle_edges(w, ids)
    for sim in sims:
        sim.ota_install_seconds = 20  # a batch finishes before the next one is due
    sims[1].ota_fails = True

    run = ota(w, ids, skipCanary=True)

    assert run["status"] == "FAILED" and run["states"][-1] == "RolledBack", run["states"]
    jobs = jobs_of(w)
    [rollout] = [j for j in jobs.values() if j["jobId"].endswith("-rollout")]
    assert rollout["status"] == "CANCELED" and "abort criteria met" in rollout["comment"]
    assert [s.edge_id for s in sims if s.commands] == ["edge-cps-001", "edge-cps-002"]
    assert [c["version"] for c in sims[0].commands] == [VERSION, OLD], "updated, rolled back"
    assert all(reported(w, e) == OLD for e in ids)
    [verified] = records(w, "ota_rollback_verified")
    assert "edge-cps-001" in verified["result"]
    [page] = [n for n in w.pages() if n["level"] == "l2"]
    assert "rolled back" in str(page["message"])


def test_a_restart_lock_taken_during_the_canary_holds_against_the_rollout(
    edge_world: EdgeWorld,
) -> None:
    """Runbook 000 §5a "NÃO religar até normalizar temperatura": an over-temperature lock
    taken after the plan still keeps the OTA off that edge (the blockers are read again right
    before each job)."""
    w = edge_world
    ids = ["edge-cps-001", "edge-cps-002", "edge-cps-003"]
    idle_edges(w, ids)

    def lock() -> None:
        w.pipeline.client("dynamodb").put_item(
            TableName=w.pipeline.tables["guard_state"],
            Item={
                "pk": {"S": "restart-lock#edge-cps-003"},
                "state": {"S": "held"},
                "since": {"S": w.pipeline.clock.now().isoformat()},
                "reason": {"S": "OVER_TEMPERATURE raised"},
            },
        )

    run = ota(w, ids, timers={30: lock})

    assert run["status"] == "SUCCEEDED", run["states"]
    assert not w.sims["edge-cps-003"].commands and reported(w, "edge-cps-003") == OLD
    assert reported(w, "edge-cps-002") == VERSION
    [refused] = records(w, "ota_refused")
    assert refused["result"].startswith("edge-cps-003: not updated: restart lock held")


@pytest.mark.procedure("E2", "manual execution with its input")
def test_force_reinstalls_a_version_an_edge_already_reports(edge_world: EdgeWorld) -> None:
    """Runbook 000 §2 `"force": true`: without it an edge already on the version is left
    alone (it reports it: nothing to do); with it the version is installed again. It
    skips no blocker (test above: the window is the system's own setting)."""
    w = edge_world
    sim = EdgeSim("edge-cps-001", w.broker, clock=w.pipeline.clock)
    sim.firmware_version = VERSION
    w.sims[sim.edge_id] = sim.start()
    sim.power_kw = 0.0
    sim.publish_telemetry()
    window(w, sim.edge_id)
    w.settle()

    first = ota(w, [sim.edge_id], skipCanary=True)
    assert first["status"] == "SUCCEEDED" and first["states"][-1] == "AlreadyUpdated"
    assert not sim.commands and not jobs_of(w)

    w.pipeline.start_manual(
        "forced_ota",
        {"version": VERSION, "targetEdgeIds": [sim.edge_id], "skipCanary": True, "force": True},
    )
    runs = w.ladders(finished=2, workflow="forced_ota", timeout=600)
    second = next(r for r in runs if r["executionArn"] != first["executionArn"])
    assert second["status"] == "SUCCEEDED" and second["states"][-1] == "Updated", second["states"]
    assert [c["version"] for c in sim.commands] == [VERSION]


def test_an_edge_that_never_finishes_times_out_and_the_run_is_not_fixed(
    edge_world: EdgeWorld,
) -> None:
    """Runbook 000 §2 "Monitorar progresso": an edge whose agent starts the update and never
    reports its end is timed out by IoT Jobs (`timeoutConfig`); below the abort threshold
    nothing is rolled back, and the run says which edge does not report the version."""
    w = edge_world
    ids = ["edge-cps-001", "edge-cps-002", "edge-cps-003"]
    sims = idle_edges(w, ids)
    sims[2].ota_hangs = True

    run = ota(w, ids, skipCanary=True)

    assert run["status"] == "FAILED" and run["states"][-1] == "NotFixed", run["states"]
    iot = w.pipeline.client("iot")
    [job] = [j["jobId"] for j in iot.list_jobs()["jobs"]]
    execution = iot.describe_job_execution(jobId=job, thingName="edge-cps-003")["execution"]
    assert execution["status"] == "TIMED_OUT"
    assert [reported(w, e) for e in ids] == [VERSION, VERSION, OLD]
    [page] = [n for n in w.pages() if n["message"].get("automation") == "forced_ota"]
    assert "not updated: edge-cps-003 (1.1.0)" in str(page["message"])


def test_the_kill_switch_after_the_canary_stops_the_rollout_and_pages(
    edge_world: EdgeWorld,
) -> None:
    """Issue 19 (tests/reliability/test_kill_switch.py runs every acting workflow that a
    sample starts; this one starts by hand): the switch turned on after the canary's job →
    no rollout job, and the refusal pages L1, never a quiet end."""
    from selfheal_shared.core import guards

    w = edge_world
    ids = ["edge-cps-001", "edge-cps-002", "edge-cps-003"]
    idle_edges(w, ids)
    intents_at_switch: list[int] = []

    def after_the_canary(name: str, _event: Any) -> None:
        done = [r for r in w.pipeline.audit_records() if r["action"].endswith("_intent")]
        if done and not intents_at_switch:
            intents_at_switch.append(len(done))
            guards.set_switch(guards.KILL_SWITCH, enabled=True, reason="drill", actor="test")

    w.pipeline.lambdas.before_invoke.append(after_the_canary)
    run = ota(w, ids)

    assert intents_at_switch, "the canary job was sent"
    intents = [r for r in w.pipeline.audit_records() if r["action"].endswith("_intent")]
    assert len(intents) == intents_at_switch[0], "no action after the kill switch"
    assert not [j for j in jobs_of(w) if j.endswith("-rollout")]
    assert run["status"] == "FAILED" and run["states"][-2:] == ["EscalateStopped", "Stopped"]
    [page] = [n for n in w.pipeline.notifications() if n["level"] == "l1"]
    assert page["message"]["refusal"]["guard"] == "kill_switch"
