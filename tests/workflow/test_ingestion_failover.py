"""ingestion_failover end to end on the real Aupus hosts (runbook 004 "Servidor Principal
Offline" M2 and "Erro P2002" M4): each instance's pm2 runs aupus-api against a real
mosquitto and the shared PostgreSQL; a feed owned by the test publishes readings in real
time; the workflow switches instances through SSM Command documents (on each host, and
`psql` on the database host) and proves each outcome from the rows."""

from __future__ import annotations

import dataclasses
import json
import threading
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
from selfheal_cdk import spec as spec_mod
from selfheal_shared.ingestion import ingestion_lease
from selfheal_shared.ingestion.ingestion_lease import LeaseLost

from local.broker import Broker, mosquitto
from local.runtime import Pipeline
from local.worlds import World, WorldSpec
from local.worlds.ingestion.aupus import AupusDeployment, AupusHost, Row
from tests.helpers import SAMPLES, load_event, spec_for

GROUP = "aupus-mqtt"
DOWN = SAMPLES / "ingestion_failover.primary_down.json"
BACK = SAMPLES / "ingestion_failover.primary_back.json"
P2002 = SAMPLES / "instance_conflict.p2002_alarm.json"
WORKFLOWS = ("ingestion_failover",)
PRIMARY_ID = "production-server"  # the runbook's primary INSTANCE_ID
BACKUP_ID = "aupus-backup"


@pytest.fixture(scope="module")
def failover_spec() -> spec_mod.Spec:
    """Only this workflow's state machine and functions (each costs moto a parse/create),
    and the probe that publishes the instances' health in production."""
    spec = spec_for(WORKFLOWS)
    probe = spec_mod.load().functions["service_probe"]
    return dataclasses.replace(spec, functions={**spec.functions, probe.name: probe})


@pytest.fixture(scope="module")
def broker() -> Iterator[Broker]:
    with mosquitto() as b:
        yield b


@pytest.fixture
def empty_world() -> WorldSpec:
    spec = World.load().spec.model_copy(deep=True)
    spec.services, spec.ingestion, spec.edgeSites = [], [], []
    spec.fiscal = spec.forecasting = None
    return spec


@dataclasses.dataclass
class Group:
    p: Pipeline
    aupus: AupusDeployment
    primary: AupusHost
    backup: AupusHost


@pytest.fixture
def make_group(
    make_pipeline: Any, failover_spec: spec_mod.Spec, empty_world: WorldSpec, broker: Broker
) -> Iterator[Any]:
    made: list[AupusDeployment] = []

    def make(
        primary: str = "production",
        backup: str = "development",
        holder: str = "primary",
        shipped: bool = True,
    ):
        """`shipped=False`: the hosts' CloudWatch agents ship nothing, for a test that hands
        the P2002 alarm's event in itself (else the real alarm would start a second run, and
        the virtual clock's jumps, leaving minutes without the lines, could flip it)."""
        p = make_pipeline(world_spec=empty_world, spec=failover_spec)
        aupus = AupusDeployment.create(p, broker)
        made.append(aupus)
        first = aupus.host("aupus-vps", primary)
        second = aupus.host("aupus-backup", backup)
        if not shipped:
            for h in (first, second):
                assert h.host is not None
                h.host.log_files.clear()
        aupus.register(GROUP, {"primary": first, "backup": second})
        ingestion_lease.take(GROUP, holder)
        return Group(p, aupus, first, second)

    yield make
    for aupus in made:
        aupus.close()


def holder() -> str | None:
    lease = ingestion_lease.read(GROUP)
    return lease.holder if lease else None


def switches(run: dict[str, Any]) -> list[str]:
    return [a["name"] for a in run["actions"] if a["name"].endswith("_instance")]


#: What aupus-api prints for each reading it saved (app.py).
SAVED = "registro(s) salvo(s)"


def p2002(*hosts: AupusHost) -> int:
    return sum(h.logs().count("P2002") for h in hosts)


def wait_for(what: str, ok: Any, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not ok():
        if time.monotonic() > deadline:
            raise TimeoutError(what)
        # Rows in PostgreSQL and lines in another process's pm2 logs notify nobody; a bounded
        # look every 0.1 s (per-line waits use AupusHost.wait_log).
        time.sleep(0.1)  # real-time: nothing signals a row or a log line; bounded by timeout


def writers_since(rows: list[Row], since: datetime) -> set[str]:
    return {r.instance_id for r in rows if r.created_at > since}


def writers_in_order(rows: list[Row]) -> list[str]:
    """Who wrote, in the order the rows arrived, each run of one writer collapsed: one
    writer at any instant means one change per switch, never back and forth."""
    out: list[str] = []
    for r in sorted(rows, key=lambda r: r.created_at):
        if not out or out[-1] != r.instance_id:
            out.append(r.instance_id)
    return out


def db_now(aupus: AupusDeployment) -> datetime:
    import psycopg

    with psycopg.connect(aupus.database.admin_url) as db:
        row = db.execute("SELECT now()").fetchone()
    assert row is not None
    return row[0]  # type: ignore[no-any-return]


# -- M4: two in production, P2002 -------------------------------------------------------


@pytest.mark.procedure("M4", "demote every production instance but the lease holder")
@pytest.mark.procedure("M4", "P2002 stopped five minutes after the demotion")
def test_p2002_demotes_the_non_holder_and_none_is_logged_five_minutes_later(
    make_group: Any,
) -> None:
    """Runbook 004 "Erro P2002": two instances in MQTT_MODE=production write the same
    readings (real unique violations, P2002 in pm2's logs) → "DESLIGAR todas as outras"
    (the backup: MQTT_MODE=development in .env, pm2 restart aupus-api) → "Após 5 minutos,
    verificar se erros P2002 pararam" (a 5-minute Wait on the virtual clock, the readings
    flowing in real time meanwhile)."""
    g = make_group(backup="production", shipped=False)
    with g.aupus.feed():
        wait_for("P2002 from two writers", lambda: p2002(g.primary, g.backup) >= 3)
        started = g.p.clock.now()
        [run] = g.p.run_event(load_event(P2002))
        after_run = p2002(g.primary, g.backup)
        switched = db_now(g.aupus)
        wait_for("rows after the run", lambda: writers_since(g.aupus.rows(), switched))
        # One more reading saved by the kept primary: the backup got it too, so a P2002
        # it would still log has been logged by now.
        g.primary.wait_log(SAVED, g.primary.mark())

    assert run["status"] == "SUCCEEDED", run
    assert "Settle" in run["states"] and "Verify" in run["states"]
    assert (g.p.clock.now() - started).total_seconds() >= 300
    assert switches(run) == ["demote_instance"]
    [demoted] = [a["result"] for a in run["actions"] if a["name"] == "demote_instance"]
    assert demoted.startswith("backup to development (.env MQTT_MODE + pm2 restart aupus-api)")
    assert "MQTT_MODE=development" in (g.backup.root / ".env").read_text()
    assert g.backup.http("/health/mqtt")[1]["mode"] == "development"
    assert g.primary.http("/health/mqtt")[1]["mode"] == "production"
    assert holder() == "primary"
    assert writers_since(g.aupus.rows(), switched) == {PRIMARY_ID}
    assert p2002(g.primary, g.backup) == after_run  # no new P2002
    [note] = [n for n in g.p.notifications() if n["message"].get("outcome") == "FIXED"]
    assert (
        f"only primary ({PRIMARY_ID}) wrote since the switch, its data arriving"
        in note["message"]["summary"]
    )
    assert "no new P2002" in note["message"]["summary"]


@pytest.mark.procedure("M4", "escalate when P2002 goes on after the demotion")
def test_p2002_that_goes_on_after_the_demotion_escalates(make_group: Any) -> None:
    """Runbook 004: "Computadores locais da equipe: Quem está com MQTT_MODE=production?" —
    an instance nobody registered keeps writing in production: after the demotion and the
    five minutes the rows still show it and P2002 go on, so L1 is paged (NOT_FIXED)."""
    g = make_group(backup="production", shipped=False)
    laptop = g.aupus.host("aupus-laptop", "production", instance_id="dev-laptop")
    assert laptop.host is not None
    laptop.host.log_files.clear()
    with g.aupus.feed():
        wait_for("P2002", lambda: p2002(g.primary, g.backup, laptop) >= 3)
        [run] = g.p.run_event(load_event(P2002))

    assert run["status"] == "FAILED" and run["error"] == "selfheal.NotFixed", run
    assert "Settle" in run["states"]
    assert g.backup.http("/health/mqtt")[1]["mode"] == "development"
    [page] = [n for n in g.p.notifications() if n["level"] == "l1"]
    reason = page["message"]["reason"]
    # Both instances in production get every reading: which of them inserts it first is a
    # race, so the evidence is the laptop's rows, or the primary's new P2002, or both.
    assert "rows from dev-laptop since the switch" in reason or "new P2002 on primary" in reason


# -- M2: the primary down, unreachable, back --------------------------------------------


@pytest.mark.procedure("M2", "fail over to the backup, the unreachable primary fenced")
def test_an_unreachable_primary_is_fenced_in_the_database_and_the_backup_takes_over(
    make_group: Any,
) -> None:
    """Runbook 004 "Servidor Principal Offline" ("SSH timeout"), with the primary alive:
    its SSM agent is offline while its app keeps writing. It cannot be put in development,
    so its role's INSERT is revoked from the database host (PostgreSQL rejects its writes),
    and only then the backup goes to production; data arrives from the backup."""
    g = make_group()
    with g.aupus.feed():
        wait_for("the primary writing", lambda: g.primary.written())
        g.primary.unreachable()
        [run] = g.p.run_event(load_event(DOWN))
        switched = db_now(g.aupus)
        mark = g.primary.mark()
        g.primary.wait_log("permission denied", mark)  # its next write, refused
        wait_for("the backup's rows", lambda: writers_since(g.aupus.rows(), switched))
        g.backup.wait_log(SAVED, g.backup.mark())  # one more reading, also sent to the primary

    assert run["status"] == "SUCCEEDED", run
    done = [s["name"] for s in run["steps"] if s["name"].endswith("_instance")]
    assert done == ["fence_instance", "promote_instance"]  # recorded, no outcome: not fixed
    assert "primary UNREACHABLE (TimedOut Delivery Timed Out)" in run["steps"][0]["result"]
    assert g.primary.http("/health/mqtt")[1]["mode"] == "production"  # alive, still trying
    assert g.backup.http("/health/mqtt")[1]["mode"] == "production"
    assert writers_since(g.aupus.rows(), switched) == {BACKUP_ID}
    assert p2002(g.primary, g.backup) == 0
    assert writers_in_order(g.aupus.rows()) == [PRIMARY_ID, BACKUP_ID]
    assert holder() == "backup"
    [note] = [n for n in g.p.notifications() if n["message"].get("outcome") == "FIXED"]
    assert (
        f"only backup ({BACKUP_ID}) wrote since the switch, its data arriving"
        in note["message"]["summary"]
    )


def test_a_fence_on_a_role_the_unreachable_primary_does_not_use_does_not_hold(
    make_group: Any,
) -> None:
    """The registry names the primary's role `aupus_vps`, but its `.env` DATABASE_URL logs
    in as another role (`aupus_legacy`, also allowed to write). Unreachable, the primary is
    fenced from the database host: REVOKE on `aupus_vps` changes nothing for it. The fence
    is verified on the role its sessions (application_name = its INSTANCE_ID) really use,
    so it does not hold, the backup is NOT promoted (no two writers), and the page says
    which role the primary writes as."""
    g = make_group()
    url = g.aupus.database.role("aupus_legacy")
    env = g.primary.root / ".env"
    env.write_text("".join(
        f"DATABASE_URL={url}?application_name={PRIMARY_ID}\n"
        if line.startswith("DATABASE_URL=") else line
        for line in env.read_text().splitlines(keepends=True)
    ))  # fmt: skip
    g.primary.restart()
    with g.aupus.feed():
        wait_for("the primary writing", lambda: g.primary.written())
        g.primary.unreachable()
        [run] = g.p.run_event(load_event(DOWN))
        g.primary.wait_log(SAVED, g.primary.mark())  # the primary still saves readings

    assert run["status"] == "FAILED", run
    assert "Settle" not in run["states"]
    assert g.backup.http("/health/mqtt")[1]["mode"] == "development"
    [page] = [n for n in g.p.notifications() if n["level"] == "l1"]
    reason = json.dumps(page["message"])
    assert (
        f"primary ({PRIMARY_ID}) is connected as aupus_legacy, which may still INSERT "
        "(the registry names aupus_vps)"
    ) in reason
    assert "no instance in production" not in reason  # the primary still writes
    assert not [r for r in g.p.audit_records() if r["action"] == "promote_instance"]


@pytest.mark.procedure("M2", "fail over to the backup, the unreachable primary fenced")
def test_a_stalled_primary_is_restarted_in_development_before_the_backup_takes_over(
    make_group: Any,
) -> None:
    """A primary alive and answering nothing (SIGSTOP: pm2 says online, `/health/mqtt`
    times out) on a host that answers: `pm2 restart aupus-api` with MQTT_MODE=development
    replaces the stalled process (pm2 kills it after its kill_timeout), then the backup goes
    to production; the rows show one writer at a time."""
    g = make_group()
    with g.aupus.feed():
        wait_for("the primary writing", lambda: g.primary.written())
        g.primary.freeze()
        [run] = g.p.run_event(load_event(DOWN))
        switched = db_now(g.aupus)
        wait_for("the backup's rows", lambda: writers_since(g.aupus.rows(), switched))
        g.backup.wait_log(SAVED, g.backup.mark())  # one more reading, also sent to the primary

    assert run["status"] == "SUCCEEDED", run
    assert switches(run) == ["demote_instance", "promote_instance"]
    assert g.primary.http("/health/mqtt")[1]["mode"] == "development"
    assert writers_since(g.aupus.rows(), switched) == {BACKUP_ID}
    assert writers_in_order(g.aupus.rows()) == [PRIMARY_ID, BACKUP_ID]
    assert p2002(g.primary, g.backup) == 0


@pytest.mark.procedure("M2", "hand back when the primary returns")
def test_primary_back_is_in_production_only_after_the_backup_is_in_development(
    make_group: Any,
) -> None:
    """Runbook 004 "Passo 5: Quando servidor principal voltar": "IMPORTANTE: Evitar 2
    instâncias em production simultaneamente!" ... "DESATIVAR backup IMEDIATAMENTE". The
    primary fenced earlier is back (its .env says production): the backup goes to
    development first, then the primary's role may write again; its rows arrive."""
    g = make_group(backup="production", holder="backup")
    g.primary.fence()
    with g.aupus.feed():
        wait_for("the backup writing", lambda: g.backup.written())
        g.p.clock.advance(3600)
        [run] = g.p.run_event(load_event(BACK))
        switched = db_now(g.aupus)
        wait_for("the primary's rows", lambda: writers_since(g.aupus.rows(), switched))
        g.primary.wait_log(SAVED, g.primary.mark())  # one more reading, also sent to the backup

    assert run["status"] == "SUCCEEDED", run
    assert switches(run) == ["demote_instance", "unfence_instance"]
    assert g.backup.http("/health/mqtt")[1]["mode"] == "development"
    assert writers_since(g.aupus.rows(), switched) == {PRIMARY_ID}
    assert writers_in_order(g.aupus.rows()) == [BACKUP_ID, PRIMARY_ID]
    assert p2002(g.primary, g.backup) == 0
    assert holder() == "primary"
    lease = ingestion_lease.read(GROUP)
    assert lease is not None and lease.token == 2


def test_a_promotion_refused_after_the_demotion_pages_no_instance_in_production(
    make_group: Any,
) -> None:
    """Runbook 004 "Passo 5: Quando servidor principal voltar": the backup is put in
    development first, then the primary in production. The primary's `.env` lost its
    MQTT_MODE line (it runs in development, the app's default), so SetMode refuses it after
    the backup was already demoted: nobody saves data. Read again from the hosts, that is
    the outcome: NOT_FIXED, L1 and L2 paged with "no instance in production", what was done
    and what failed; not a generic failure."""
    g = make_group(backup="production", holder="backup")
    env = g.primary.root / ".env"
    env.write_text("".join(
        line for line in env.read_text().splitlines(keepends=True)
        if not line.startswith("MQTT_MODE=")
    ))  # fmt: skip
    g.primary.restart()
    assert g.primary.http("/health/mqtt")[1]["mode"] == "development"
    g.p.clock.advance(3600)
    [run] = g.p.run_event(load_event(BACK))

    assert run["status"] == "FAILED" and run["error"] == "selfheal.NotFixed", run
    assert "Settle" not in run["states"]
    assert g.backup.http("/health/mqtt")[1]["mode"] == "development"
    assert g.primary.http("/health/mqtt")[1]["mode"] == "development"
    pages = [n for n in g.p.notifications() if n["level"] in ("l1", "l2")]
    assert {n["level"] for n in pages} == {"l1", "l2"}
    for page in pages:
        assert page["message"]["outcome"] == "NOT_FIXED"
        reason = page["message"]["reason"]
        assert "no instance in production" in reason, reason
        assert "backup to development (.env MQTT_MODE + pm2 restart aupus-api)" in reason
        assert "promote primary" in reason and "selfheal-IngestionSetMode ended Failed" in reason
        assert "primary running development" in reason
        assert "backup running development" in reason
    [record] = [r for r in g.p.audit_records() if r["action"] == "no_instance_in_production"]
    assert record["outcome"] == "NOT_FIXED"


@pytest.mark.procedure("M2", "hand back when the primary returns")
def test_a_primary_back_within_the_cooldown_is_handed_back_once_the_cooldown_ends(
    make_group: Any,
) -> None:
    """A primary that flaps: it is failed over (unreachable, fenced, the backup promoted),
    then answers again a few minutes later and its health alarm turns OK. Handing back now
    would flip production back and forth, so within the cooldown (15 minutes since the
    failover the lease records) the hand-back is refused, recorded, and L1 told when it is
    tried again; the workflow waits out the cooldown (a Wait state, on virtual time) and
    tries once more with the same checks (runbook 004 passo 5 "Quando servidor principal
    voltar"): the primary is healthy and reachable, the backup goes to development first,
    and the primary is the only writer after it."""
    g = make_group()
    with g.aupus.feed():
        wait_for("the primary writing", lambda: g.primary.written())
        g.primary.unreachable()
        [down] = g.p.run_event(load_event(DOWN))
        assert down["status"] == "SUCCEEDED", down
        switch = ingestion_lease.switched(GROUP)
        assert switch is not None
        failed_over = switch[0]  # what the cooldown counts from
        g.primary.reachable()
        g.p.clock.advance(5 * 60)
        [back] = g.p.run_event(load_event(BACK), timeout=240)
        switched = db_now(g.aupus)
        wait_for("the primary's rows", lambda: writers_since(g.aupus.rows(), switched))
        g.primary.wait_log(SAVED, g.primary.mark())  # one more reading, after the switch

    assert back["status"] == "SUCCEEDED", back
    states = back["states"]
    assert states.index("PageHandbackDeferred") < states.index("WaitHandbackCooldown")
    assert states.index("HandbackAgain") < states.index("Apply")
    assert switches(back) == ["demote_instance", "unfence_instance"]
    [refused] = [r for r in g.p.audit_records() if r["action"] == "handback_refused"]
    assert refused["outcome"] == "SKIPPED_BY_GUARD"
    told = [n for n in g.p.notifications() if n["level"] == "l1"]
    [page] = [n for n in told if n["message"].get("outcome") == "SKIPPED_BY_GUARD"]
    reason = page["message"]["reason"]
    assert "hand-back to primary refused: the last failover" in reason
    assert "within the 15-minute cooldown; backup stays in production, nothing switched" in reason
    ends = datetime.fromisoformat(reason.split("tried again at ")[1].split(",")[0])
    assert timedelta(minutes=15) <= ends - failed_over <= timedelta(minutes=15, seconds=2)
    # tried again when the cooldown ended, not before
    [again] = [
        r for r in g.p.audit_records()
        if r["action"] == "survey_instances" and "cooldown is over" in r["why"]
    ]  # fmt: skip
    assert datetime.fromisoformat(again["at"]) >= ends
    assert g.backup.http("/health/mqtt")[1]["mode"] == "development"
    assert writers_since(g.aupus.rows(), switched) == {PRIMARY_ID}
    assert p2002(g.primary, g.backup) == 0
    assert holder() == "primary"


def test_a_handback_refused_again_after_its_retry_is_left_to_people_with_the_time(
    make_group: Any,
) -> None:
    """Tried once more only: the primary fails over again while the first hand-back waits
    (a new cooldown), so the retried hand-back is refused too; it is not retried again, and
    the page says from when it may be done."""
    g = make_group()
    with g.aupus.feed():
        wait_for("the primary writing", lambda: g.primary.written())
        g.primary.unreachable()
        [down] = g.p.run_event(load_event(DOWN))
        assert down["status"] == "SUCCEEDED", down
        g.primary.reachable()
        g.p.clock.advance(5 * 60)

        def failed_over_again(name: str, event: Any) -> None:
            # The lease switched again (another failover) just before the retried survey.
            if name == "ingestion_failover_survey" and event.get("handbackRetried"):
                lease = ingestion_lease.read(GROUP)
                assert lease is not None
                ingestion_lease.take(GROUP, "backup", over=lease.token, incident="again")

        g.p.lambdas.before_invoke.append(failed_over_again)
        [back] = g.p.run_event(load_event(BACK), timeout=240)
        g.backup.wait_log(SAVED, g.backup.mark())  # the backup still saves readings

    assert back["status"] == "SUCCEEDED" and "Skipped" in back["states"], back
    assert "Apply" not in back["states"]
    assert back["states"].count("WaitHandbackCooldown") == 1, "tried again once only"
    assert holder() == "backup"
    assert g.backup.http("/health/mqtt")[1]["mode"] == "production"
    refusals = [r for r in g.p.audit_records() if r["action"] == "handback_refused"]
    assert len(refusals) == 2
    told = [n for n in g.p.notifications() if n["level"] == "l1"]
    pages = [n for n in told if n["message"].get("outcome") == "SKIPPED_BY_GUARD"]
    assert len(pages) == 2
    last = pages[-1]["message"]["reason"]
    assert "already tried again once after a cooldown: the hand-back may be done from " in last


@pytest.mark.procedure("M2", "fail over to the backup, the unreachable primary fenced")
def test_concurrent_runs_leave_at_most_one_writer_at_any_instant(make_group: Any) -> None:
    """Runbook 004: "Evitar 2 instâncias em production simultaneamente!", also when the
    health alarm and the P2002 alarm start two runs at once against a partitioned primary:
    the lease lets one take over; the other reads again and acts on what is true then. The
    rows show one writer at any instant, and no P2002."""
    g = make_group()
    with g.aupus.feed():
        wait_for("the primary writing", lambda: g.primary.written())
        g.primary.unreachable()
        arns = g.p.put_event(load_event(DOWN), rebase=True) + g.p.put_event(
            load_event(P2002), rebase=True
        )
        g.p.wait(arns)
        switched = db_now(g.aupus)
        wait_for("the backup's rows", lambda: writers_since(g.aupus.rows(), switched))
        g.backup.wait_log(SAVED, g.backup.mark())  # one more reading, also sent to the primary
    runs = g.p.execution_summaries(arns)

    pages = [n["message"].get("reason") for n in g.p.notifications() if n["level"] != "ops"]
    assert [r["status"] for r in runs] == ["SUCCEEDED", "SUCCEEDED"], (runs, pages)
    assert writers_in_order(g.aupus.rows()) == [PRIMARY_ID, BACKUP_ID]
    assert p2002(g.primary, g.backup) == 0
    assert writers_since(g.aupus.rows(), switched) == {BACKUP_ID}
    lease = ingestion_lease.read(GROUP)
    assert lease is not None and (lease.holder, lease.token) == ("backup", 2)
    taken = [r for r in g.p.audit_records() if r["action"] == "take_lease"]
    assert len(taken) == 1, "one takeover; the other run renewed the lease it found"


def probe_minute(p: Pipeline) -> None:
    """The scheduled probe (functions/services/service_probe) reads every registered
    instance's /health now, then the minute passes and its boundary is evaluated."""
    p.lambdas.handler_for("service_probe")({"trigger": "schedule"}, None)
    p.clock.advance(60)


def runs_started(p: Pipeline, since: int) -> list[str]:
    return [a for a in p.started[since:] if ":ingestion_failover-" in a or ":instance_" in a]


@pytest.mark.procedure("M2", "fail over to the backup, the unreachable primary fenced")
@pytest.mark.procedure("M2", "hand back when the primary returns")
def test_the_probed_primary_health_fails_over_and_hands_back_by_alarm_evaluation(
    make_group: Any,
) -> None:
    """`aupus-mqtt-primary-health` (InstanceHealthy < 1 in 3 of the last 3 minutes) from
    the probe's real readings: the primary's aupus-api stopped (`pm2 stop`, its .env still
    in production), three probed minutes later the failover runs: the primary fenced in the
    database (a start would bring it back writing), the backup promoted. The primary is
    started again; the next probed minute turns the alarm OK and the hand-back runs. No
    hand-written alarm event."""
    g = make_group()
    with g.aupus.feed():
        g.primary.stop()
        for _ in range(2):
            probe_minute(g.p)
        assert g.p.started == []  # 2 of 3 minutes failing: not yet ("Confirmar ... offline")
        probe_minute(g.p)
        [down] = runs_started(g.p, 0)
        g.p.wait([down])
        failover = g.p.execution_summary(down)
        assert failover["status"] == "SUCCEEDED", failover
        assert switches(failover) == ["fence_instance", "promote_instance"]
        assert holder() == "backup"

        g.p.clock.advance(3600)  # no probe reading for an hour: the alarm has no data now
        g.primary.start()  # its .env says production; fenced, it cannot write
        before = len(g.p.started)
        probe_minute(g.p)
        [back] = runs_started(g.p, before)
        g.p.wait([back])
        switched = db_now(g.aupus)
        wait_for("the primary's rows", lambda: writers_since(g.aupus.rows(), switched))
        g.primary.wait_log(SAVED, g.primary.mark())  # one more reading, also sent to the backup

    handback = g.p.execution_summary(back)
    assert handback["status"] == "SUCCEEDED", handback
    assert switches(handback) == ["demote_instance", "unfence_instance"]
    assert holder() == "primary"
    assert writers_since(g.aupus.rows(), switched) == {PRIMARY_ID}
    assert writers_in_order(g.aupus.rows())[-2:] == [BACKUP_ID, PRIMARY_ID]
    assert len(writers_in_order(g.aupus.rows())) <= 3  # the primary's rows before its stop
    assert p2002(g.primary, g.backup) == 0


@pytest.mark.procedure("M4", "demote every production instance but the lease holder")
def test_real_p2002_lines_shipped_from_pm2_raise_the_alarm_that_demotes_the_backup(
    make_group: Any,
) -> None:
    """`aupus-mqtt-p2002` from what the hosts really write: both instances in production
    save the same readings, PostgreSQL refuses the second insert (a real unique violation),
    aupus-api prints "❌ [MQTT] ERRO: P2002: ..." into pm2's log file, the CloudWatch agent
    ships the file to the service's log group, the group's transformer and the metric filter
    (as the stack deploys them) make `P2002Errors` with IngestionGroup=aupus-mqtt, the
    alarm's evaluation goes to ALARM and `instance_conflict` starts the workflow, which
    demotes the backup. No hand-written alarm event, no line written by the test."""
    g = make_group(backup="production")
    group = "/selfheal/services/aupus-ingestion"
    with g.aupus.feed():
        wait_for("P2002 from two writers", lambda: p2002(g.primary, g.backup) >= 3)
        assert runs_started(g.p, 0) == []
        g.p.clock.advance(60)  # the agents ship the lines; the minute is evaluated: Sum >= 1
        [run_arn] = runs_started(g.p, 0)
        g.p.wait([run_arn])
        switched = db_now(g.aupus)
        wait_for("rows after the run", lambda: writers_since(g.aupus.rows(), switched))

    shipped = [
        e["message"]
        for e in g.p.client("logs").filter_log_events(logGroupName=group)["events"]
        if "P2002" in e["message"]
    ]
    assert shipped and all(
        m.startswith("❌ [MQTT] ERRO: P2002: Unique constraint") for m in shipped
    )
    started = g.p.client("stepfunctions").describe_execution(executionArn=run_arn)
    event = json.loads(started["input"])
    assert event["detail"]["alarmName"] == "aupus-mqtt-p2002"
    assert event["detail"]["state"]["value"] == "ALARM"
    [metric] = event["detail"]["configuration"]["metrics"]
    assert metric["metricStat"]["metric"]["dimensions"] == {"IngestionGroup": GROUP}
    counted = json.loads(event["detail"]["state"]["reasonData"])["recentDatapoints"]
    assert counted and counted[0] >= 1
    stats = g.p.client("cloudwatch").get_metric_statistics(
        Namespace="Aupus/Ingestion",
        MetricName="P2002Errors",
        Dimensions=[{"Name": "IngestionGroup", "Value": GROUP}],
        StartTime=g.p.clock.now() - timedelta(hours=1),
        EndTime=g.p.clock.now(),
        Period=60,
        Statistics=["Sum"],
    )["Datapoints"]
    assert sum(d["Sum"] for d in stats) >= len(shipped) >= 1
    run = g.p.execution_summary(run_arn)
    assert ":selfheal-sm-ingestion-failover:instance_conflict-" in run_arn  # the rule's run
    assert run["status"] == "SUCCEEDED", run
    assert switches(run) == ["demote_instance"]
    assert g.backup.http("/health/mqtt")[1]["mode"] == "development"
    assert holder() == "primary"
    assert writers_since(g.aupus.rows(), switched) == {PRIMARY_ID}
    assert runs_started(g.p, 0) == [run_arn]  # the alarm stayed, then went OK: one run


@pytest.mark.procedure("M2", "fail over to the backup, the unreachable primary fenced")
def test_no_data_after_the_failover_is_read_again_by_the_workflow_then_escalated(
    make_group: Any,
) -> None:
    """Runbook 004 "Aguardar 1-2 minutos e verificar dados chegando": no equipment publishes
    (no feed), so the promoted backup saves nothing. The workflow waits for the first row
    (ArrivalWait on the workflow's clock, a bounded number of times), each Verify making one
    reading of the hosts and the rows; then NOT_FIXED, "no data arriving", L1 paged. No
    Lambda waits on real time for the rows."""
    from selfheal_shared.ingestion import ingestion_documents as docs
    from selfheal_shared.ingestion import ingestion_failover as failover

    asl = json.loads((spec_mod.ROOT / "state_machines" / "ingestion_failover.asl.json").read_text())
    arrival = asl["States"]["ArrivalWait"]["Seconds"]
    rounds = failover.VERIFY_ROUNDS
    g = make_group()
    g.primary.unreachable()
    started = g.p.clock.now()
    [run] = g.p.run_event(load_event(DOWN))

    assert run["status"] == "FAILED" and run["error"] == "selfheal.NotFixed", run
    done = [s["name"] for s in run["steps"] if s["name"].endswith("_instance")]
    assert done == ["fence_instance", "promote_instance"]  # recorded, no outcome: not fixed
    assert run["states"].count("Verify") == rounds
    assert run["states"].count("ArrivalWait") == rounds - 1
    waited = (g.p.clock.now() - started).total_seconds()
    assert waited >= failover.SETTLE_SECONDS["failover"] + (rounds - 1) * arrival
    # One WRITERS reading per Verify: the survey's, the apply's two, then one per round.
    pages = (
        g.p.client("ssm")
        .get_paginator("list_commands")
        .paginate(Filters=[{"key": "DocumentName", "value": docs.WRITERS}])
    )
    readings = [c for page in pages for c in page["Commands"]]
    assert len(readings) == 1 + 2 + rounds
    [page] = [n for n in g.p.notifications() if n["level"] == "l1"]
    reason = page["message"]["reason"]
    assert f"no row from {BACKUP_ID} since the switch (no data arriving)" in reason
    assert f"reading {rounds} of at most {rounds}" in reason


def test_no_instance_answering_escalates_and_switches_nothing(make_group: Any) -> None:
    """Runbook 004 "Procedimento de escalonamento": with no instance answering nothing can
    take production, so people are paged (L1 and L2) with what was read."""
    g = make_group()
    g.primary.unreachable()
    g.backup.unreachable()
    [run] = g.p.run_event(load_event(DOWN))

    assert run["status"] == "FAILED" and run["error"] == "selfheal.NotFixed"
    assert holder() == "primary"
    pages = [n for n in g.p.notifications() if n["level"] in ("l1", "l2")]
    assert {n["level"] for n in pages} == {"l1", "l2"}
    assert "no healthy instance" in pages[0]["message"]["reason"]
    assert not [r for r in g.p.audit_records() if r["action"].endswith("_instance")]


def test_kill_switch_stops_the_failover_before_any_switch(make_group: Any) -> None:
    """DESIGN safety rules: one kill switch stops every remediator; the refusal is recorded
    and L1 is paged with what the survey read (the backup is NOT in production)."""
    from selfheal_shared.core import guards

    g = make_group()
    guards.set_switch(guards.KILL_SWITCH, enabled=True, reason="drill", actor="test")
    g.primary.unreachable()
    [run] = g.p.run_event(load_event(DOWN))

    assert run["status"] == "SUCCEEDED" and "Skipped" in run["states"], run
    assert g.backup.http("/health/mqtt")[1]["mode"] == "development"
    assert holder() == "primary"
    [page] = [n for n in g.p.notifications() if n["level"] == "l1"]
    assert "nothing switched: the kill_switch guard refused" in page["message"]["reason"]
    assert "primary UNREACHABLE" in page["message"]["reason"]


# -- the lease alone ---------------------------------------------------------------------


@pytest.fixture
def lease_only(
    make_pipeline: Any, failover_spec: spec_mod.Spec, empty_world: WorldSpec
) -> Pipeline:
    p: Pipeline = make_pipeline(world_spec=empty_world, spec=failover_spec)
    ingestion_lease.take(GROUP, "primary")
    return p


def test_sixteen_concurrent_takers_get_one_holder(lease_only: Pipeline) -> None:
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


def test_a_holder_that_stalls_past_its_lease_is_fenced(lease_only: Pipeline) -> None:
    """A holder that stalls past the expiry loses the lease: its renewal (the check before
    each of its actions) is refused once another run took over."""
    stalled = ingestion_lease.read(GROUP)
    assert stalled is not None and stalled.holder == "primary"
    lease_only.clock.advance((ingestion_lease.LEASE_MINUTES + 1) * 60)
    ingestion_lease.take(GROUP, "backup")  # expired: no `over` needed

    with pytest.raises(LeaseLost, match="no longer current"):
        ingestion_lease.confirm(stalled)
    assert holder() == "backup"


def test_a_bad_group_name_fails_naming_the_field_and_acts_on_nothing(
    lease_only: Pipeline,
) -> None:
    event = load_event(P2002)
    metric = event["detail"]["configuration"]["metrics"][0]["metricStat"]["metric"]
    metric["dimensions"]["IngestionGroup"] = "Not A Group!"
    [run] = lease_only.run_event(event)

    assert run["status"] == "FAILED" and run["error"] == "selfheal.Failed"
    reason = next(n for n in lease_only.notifications() if n["level"] == "l1")["message"]["reason"]
    assert "InputInvalid" in reason and "group" in reason
    assert not [r for r in lease_only.audit_records() if r["action"].endswith("_instance")]
