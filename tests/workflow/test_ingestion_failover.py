"""ingestion_failover end to end (runbook 004 "Servidor Principal Offline" M2 and "Erro
P2002" M4): two real ingestion instances on 127.0.0.1 (local/worlds/ingestion/instances.py), one
lease with a fencing token in DynamoDB, and the state machine that keeps exactly one
instance in production."""

from __future__ import annotations

import dataclasses
import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from selfheal_cdk import spec as spec_mod
from selfheal_shared.ingestion import ingestion_instances, ingestion_lease
from selfheal_shared.ingestion.ingestion_lease import LeaseLost

from local.runtime import Pipeline
from local.worlds import World, WorldSpec
from local.worlds.ingestion import Process, Processes, mode_of
from tests.helpers import SAMPLES, load_event, spec_for

GROUP = "aupus-mqtt"
DOWN = SAMPLES / "ingestion_failover.primary_down.json"
BACK = SAMPLES / "ingestion_failover.primary_back.json"
P2002 = SAMPLES / "instance_conflict.p2002_alarm.json"
WORKFLOWS = ("ingestion_failover",)


@pytest.fixture(scope="module")
def failover_spec() -> spec_mod.Spec:
    """Only this workflow's state machine and functions (each costs moto a parse/create),
    and the probe that publishes the instances' health in production."""
    spec = spec_for(WORKFLOWS)
    probe = spec_mod.load().functions["service_probe"]
    return dataclasses.replace(spec, functions={**spec.functions, probe.name: probe})


@pytest.fixture
def empty_world() -> WorldSpec:
    spec = World.load().spec.model_copy(deep=True)
    spec.services, spec.ingestion, spec.edgeSites = [], [], []
    spec.fiscal = spec.forecasting = None
    return spec


@pytest.fixture
def processes() -> Iterator[Processes]:
    procs = Processes()
    try:
        yield procs
    finally:
        procs.kill_all()


@pytest.fixture
def group(
    make_pipeline: Any, failover_spec: spec_mod.Spec, empty_world: WorldSpec, processes: Processes
) -> tuple[Pipeline, Processes]:
    """The primary in production holding the lease, the backup in standby."""
    p = make_pipeline(world_spec=empty_world, spec=failover_spec)
    primary = processes.instance("primary", "production")
    backup = processes.instance("backup", "standby")
    register(p, primary, backup)
    processes.attach(p)  # Run Command to their hosts switches them
    ingestion_lease.take(GROUP, "primary")
    return p, processes


def register(p: Pipeline, primary: Process, backup: Process) -> None:
    p.client("ssm").put_parameter(
        Name=ingestion_instances.parameter_name(GROUP),
        Type="String",
        Value=json.dumps(
            {
                "instances": [
                    {"name": "primary", "url": primary.url, "priority": 0},
                    {"name": "backup", "url": backup.url, "priority": 1},
                ]
            }
        ),
    )


def modes(procs: Processes) -> dict[str, str | None]:
    return {name: mode_of(proc.url) for name, proc in procs.started.items()}


def holder() -> str | None:
    lease = ingestion_lease.read(GROUP)
    return lease.holder if lease else None


@pytest.mark.procedure("M2", "fail over to the backup under a lease")
def test_primary_down_puts_the_backup_in_production_within_one_run(
    group: tuple[Pipeline, Processes],
) -> None:
    """Runbook 004 "Servidor Principal Offline": "Passo 2: Ativar instância de backup ...
    MQTT_MODE=production"; "Passo 3: Verificar que backup assumiu"."""
    p, procs = group
    procs.started["primary"].kill()
    [run] = p.run_event(load_event(DOWN))

    assert run["workflow"] == "ingestion_failover" and run["status"] == "SUCCEEDED", run
    assert modes(procs) == {"primary": None, "backup": "production"}
    assert holder() == "backup"
    names = [s["name"] for s in run["steps"]]
    assert names[:2] == ["survey_instances", "take_lease_intent"]
    assert "primary DOWN" in run["steps"][0]["result"]
    assert [a["name"] for a in run["actions"]] == ["promote_instance"]
    [note] = [n for n in p.notifications() if n["message"].get("outcome") == "FIXED"]
    assert "only backup in production, holding the lease (token 2)" in note["message"]["summary"]
    assert any("backup switched to production" in d for d in note["message"]["done"])
    # The switch is the runbook's own host command, sent with Run Command to the backup's host.
    [[sent]] = p.extensions.ssm_invocations.values()
    assert sent["InstanceId"] == "mi-backup" and sent["Status"] == "Success"


@pytest.mark.procedure("M2", "hand back when the primary returns")
def test_primary_back_takes_the_lease_back_and_the_backup_is_demoted(
    group: tuple[Pipeline, Processes],
) -> None:
    """Runbook 004 "Passo 5: Quando servidor principal voltar": "IMPORTANTE: Evitar 2
    instâncias em production simultaneamente!" ... "DESATIVAR backup IMEDIATAMENTE"."""
    p, procs = group
    procs.started["primary"].kill()
    p.run_event(load_event(DOWN))
    p.clock.advance(3600)
    procs.restart("primary")  # its .env says production: two in production now
    assert modes(procs) == {"primary": "production", "backup": "production"}

    [run] = p.run_event(load_event(BACK))

    assert run["status"] == "SUCCEEDED", run
    assert modes(procs) == {"primary": "production", "backup": "standby"}
    assert holder() == "primary"
    assert [a["name"] for a in run["actions"]] == ["demote_instance"]
    lease = ingestion_lease.read(GROUP)
    assert lease is not None and lease.token == 3


@pytest.mark.procedure("M4", "demote every production instance but the lease holder")
def test_p2002_demotes_every_production_instance_but_the_lease_holder(
    group: tuple[Pipeline, Processes],
) -> None:
    """Runbook 004 "Erro P2002": "Duas ou mais instâncias em MQTT_MODE=production ao mesmo
    tempo!" → "Apenas 1 instância deve estar em production!" ... "DESLIGAR todas as outras"."""
    p, procs = group
    procs.restart("backup", "production")  # someone started the backup in production
    assert modes(procs) == {"primary": "production", "backup": "production"}

    [run] = p.run_event(load_event(P2002))

    assert run["status"] == "SUCCEEDED", run
    assert modes(procs) == {"primary": "production", "backup": "standby"}
    assert holder() == "primary"
    assert [a["name"] for a in run["actions"]] == ["demote_instance"]
    assert "backup switched to standby under lease token 1" in run["actions"][0]["result"]


def test_no_healthy_instance_escalates_and_switches_nothing(
    group: tuple[Pipeline, Processes],
) -> None:
    """Runbook 004 "Procedimento de escalonamento": with no instance answering nothing can
    take production, so people are paged (L1 and L2) with what was read."""
    p, procs = group
    procs.kill_all()
    [run] = p.run_event(load_event(DOWN))

    assert run["status"] == "FAILED" and run["error"] == "selfheal.NotFixed"
    assert holder() == "primary"
    pages = [n for n in p.notifications() if n["level"] in ("l1", "l2")]
    assert {n["level"] for n in pages} == {"l1", "l2"}
    assert "no healthy instance" in pages[0]["message"]["reason"]
    assert not [r for r in p.audit_records() if r["action"].endswith("_instance")]


def test_sixteen_concurrent_takers_get_one_holder(group: tuple[Pipeline, Processes]) -> None:
    """Runbook 004: "IMPORTANTE: Evitar 2 instâncias em production simultaneamente!" — 16
    threads take the same lease over the same token through the runtime's DynamoDB: exactly
    one wins, and the token moves by one."""
    before = ingestion_lease.read(GROUP)
    assert before is not None
    won: list[str] = []
    lost: list[str] = []
    barrier = threading.Barrier(16)

    def attempt(n: int) -> None:
        barrier.wait()
        try:
            won.append(ingestion_lease.take(GROUP, f"taker-{n}", over=before.token).holder)
        except LeaseLost:
            lost.append(f"taker-{n}")

    threads = [threading.Thread(target=attempt, args=(n,)) for n in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert len(won) == 1 and len(lost) == 15
    after = ingestion_lease.read(GROUP)
    assert after is not None and after.holder == won[0] and after.token == before.token + 1


def test_a_holder_that_stalls_past_its_lease_is_fenced(group: tuple[Pipeline, Processes]) -> None:
    """Runbook 004: "Apenas 1 instância deve estar em production!" — a holder that stalls
    past the expiry loses the lease: its renewal is refused, and a mode change it sends with
    its old token is refused by the instance itself."""
    p, procs = group
    stalled = ingestion_lease.read(GROUP)
    assert stalled is not None and stalled.holder == "primary"
    p.clock.advance((ingestion_lease.LEASE_MINUTES + 1) * 60)
    taken = ingestion_lease.take(GROUP, "backup")  # expired: no `over` needed
    backup = ingestion_instances.Instance(
        name="backup", url=procs.started["backup"].url, priority=1
    )
    assert (
        ingestion_instances.set_mode(backup, "production", taken.token, "sh-test-promote")
        == "production"
    )

    with pytest.raises(LeaseLost, match="no longer current"):
        ingestion_lease.confirm(stalled)
    with pytest.raises(LeaseLost, match="fenced"):
        ingestion_instances.set_mode(backup, "standby", stalled.token, "sh-test-demote")
    assert mode_of(procs.started["backup"].url) == "production"
    assert holder() == "backup"


@pytest.mark.procedure("M2", "fail over to the backup under a lease")
def test_concurrent_runs_leave_one_holder_and_one_instance_in_production(
    group: tuple[Pipeline, Processes],
) -> None:
    """Runbook 004: "Evitar 2 instâncias em production simultaneamente!", also when the
    health alarm and the P2002 alarm start two runs at once: the lease's conditional write
    lets one take it; the other reads again and acts on what is true then."""
    p, procs = group
    procs.started["primary"].kill()
    arns = p.put_event(load_event(DOWN), rebase=True) + p.put_event(load_event(P2002), rebase=True)
    p.wait(arns)
    runs = p.execution_summaries(arns)

    assert [r["status"] for r in runs] == ["SUCCEEDED", "SUCCEEDED"], runs
    assert modes(procs) == {"primary": None, "backup": "production"}
    lease = ingestion_lease.read(GROUP)
    assert lease is not None and (lease.holder, lease.token) == ("backup", 2)
    taken = [r for r in p.audit_records() if r["action"] == "take_lease"]
    assert len(taken) == 1, "one takeover; the other run renewed the lease it found"


def test_kill_switch_stops_the_failover_before_any_switch(
    group: tuple[Pipeline, Processes],
) -> None:
    """DESIGN safety rules: one kill switch stops every remediator; the refusal is recorded
    and L1 is paged with what the survey read (the backup is NOT in production)."""
    from selfheal_shared.core import guards

    p, procs = group
    guards.set_switch(guards.KILL_SWITCH, enabled=True, reason="drill", actor="test")
    procs.started["primary"].kill()
    [run] = p.run_event(load_event(DOWN))

    assert run["status"] == "SUCCEEDED" and "Skipped" in run["states"], run
    assert modes(procs) == {"primary": None, "backup": "standby"}
    assert holder() == "primary"
    [page] = [n for n in p.notifications() if n["level"] == "l1"]
    assert "nothing switched: the kill_switch guard refused" in page["message"]["reason"]
    assert "primary DOWN" in page["message"]["reason"]


def test_a_bad_group_name_fails_naming_the_field_and_acts_on_nothing(
    group: tuple[Pipeline, Processes],
) -> None:
    p, procs = group
    event = load_event(P2002)
    metric = event["detail"]["configuration"]["metrics"][0]["metricStat"]["metric"]
    metric["dimensions"]["IngestionGroup"] = "Not A Group!"
    [run] = p.run_event(event)

    assert run["status"] == "FAILED" and run["error"] == "selfheal.Failed"
    reason = next(n for n in p.notifications() if n["level"] == "l1")["message"]["reason"]
    assert "InputInvalid" in reason and "group" in reason
    assert modes(procs) == {"primary": "production", "backup": "standby"}


# --- from the raw signal: the probe's readings and the ingestion log lines ---------------


def probe_minute(p: Pipeline) -> None:
    """The scheduled probe (functions/services/service_probe) reads every registered instance's
    /health now, then the minute passes and its boundary is evaluated."""
    p.lambdas.handler_for("service_probe")({"trigger": "schedule"}, None)
    p.clock.advance(60)


def runs_started(p: Pipeline, since: int) -> list[str]:
    return [a for a in p.started[since:] if ":ingestion_failover-" in a or ":instance_" in a]


@pytest.mark.procedure("M2", "fail over to the backup under a lease")
@pytest.mark.procedure("M2", "hand back when the primary returns")
def test_the_probed_primary_health_fails_over_and_hands_back_by_alarm_evaluation(
    group: tuple[Pipeline, Processes],
) -> None:
    """`aupus-mqtt-primary-health` (InstanceHealthy < 1 in 3 of the last 3 minutes) from
    the probe's real readings: the primary's process dies, three probed minutes later the
    alarm is in ALARM and the failover runs; the primary comes back, the next probed minute
    turns the alarm OK and the hand-back runs. No hand-written alarm event."""
    p, procs = group
    procs.started["primary"].kill()
    for _ in range(2):
        probe_minute(p)
    assert p.started == []  # 2 of 3 minutes failing: not yet ("Confirmar que está offline")
    probe_minute(p)
    [down] = runs_started(p, 0)
    p.wait([down])
    run = p.execution_summary(down)
    assert run["status"] == "SUCCEEDED", run
    assert modes(procs) == {"primary": None, "backup": "production"} and holder() == "backup"
    event = next(j.data["event"] for j in p.journal if j.kind == "event")
    assert event["detail"]["alarmName"] == "aupus-mqtt-primary-health"
    assert event["detail"]["state"]["reason"].startswith(
        "Threshold Crossed: 3 out of the last 3 datapoints [0.0"
    )

    p.clock.advance(3600)  # no probe reading for an hour: the alarm has no data now
    procs.restart("primary")  # its .env says production: two in production now
    before = len(p.started)
    probe_minute(p)
    [back] = runs_started(p, before)
    p.wait([back])
    run = p.execution_summary(back)
    assert run["status"] == "SUCCEEDED", run
    assert modes(procs) == {"primary": "production", "backup": "standby"}
    assert holder() == "primary"
    states = [
        (e["detail"]["previousState"]["value"], e["detail"]["state"]["value"])
        for e in (j.data["event"] for j in p.journal if j.kind == "event")
    ]
    assert states == [
        ("INSUFFICIENT_DATA", "ALARM"),
        ("ALARM", "INSUFFICIENT_DATA"),  # matches no rule: nothing started
        ("INSUFFICIENT_DATA", "OK"),
    ]


@pytest.mark.procedure("M4", "demote every production instance but the lease holder")
def test_p2002_log_lines_raise_the_conflict_alarm_through_the_metric_filter(
    group: tuple[Pipeline, Processes],
) -> None:
    """Runbook 004 "Erro P2002": the instances' logs show "P2002: Unique constraint failed"
    (shipped as JSON lines by the CloudWatch agent); the Logs metric filter counts them,
    `aupus-mqtt-p2002` (Sum >= 1 in a minute) goes to ALARM and the backup is demoted."""
    p, procs = group
    procs.restart("backup", "production")  # someone started the backup in production
    logs = p.client("logs")
    group_name = "/selfheal/services/aupus-ingestion"
    logs.create_log_group(logGroupName=group_name)
    logs.create_log_stream(logGroupName=group_name, logStreamName="backup")
    at = int(p.clock.now().timestamp() * 1000)
    lines = [
        {"ingestionGroup": GROUP, "instance": "backup", "message": "[MQTT] MODO PRODUÇÃO"},
        {
            "ingestionGroup": GROUP,
            "instance": "backup",
            "message": "PrismaClientKnownRequestError P2002: Unique constraint failed",
        },
    ]
    logs.put_log_events(
        logGroupName=group_name,
        logStreamName="backup",
        logEvents=[{"timestamp": at + n, "message": json.dumps(x)} for n, x in enumerate(lines)],
    )
    assert p.started == []
    p.clock.advance(60)

    [arn] = runs_started(p, 0)
    p.wait([arn])
    run = p.execution_summary(arn)
    assert run["status"] == "SUCCEEDED", run
    assert modes(procs) == {"primary": "production", "backup": "standby"}
    assert [a["name"] for a in run["actions"]] == ["demote_instance"]
    assert ":instance_conflict-" in arn  # the P2002 rule, not the health one
