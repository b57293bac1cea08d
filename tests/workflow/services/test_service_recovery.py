"""service_recovery end to end with real processes (runbooks 002, 003, 004; issue 12
items 1, 2, 6): status -> logs -> dependencies first -> restart through SSM Run Command ->
verify -> escalation ladder, and a post-incident record for every incident."""

from __future__ import annotations

import contextlib
import json
import re
from datetime import datetime, timedelta
from typing import Any

import pytest
from selfheal_shared.core import guards, page_chain

from local.runtime import Pipeline
from local.worlds.services import ServiceSim
from tests.helpers import SAMPLES, load_event
from tests.workflow.services.conftest import audit_actions, pages

API = SAMPLES / "service_recovery.api_health_alarm.json"
WORKER = SAMPLES / "service_recovery.worker_backlog_alarm.json"
INFERENCE = SAMPLES / "service_recovery.inference_health_alarm.json"
INGESTION = SAMPLES / "service_recovery.ingestion_stale_alarm.json"


def record_of(p: Pipeline) -> dict[str, Any]:
    [rec] = [r for r in p.audit_records() if r["action"] == "post_incident_record"]
    return dict(json.loads(rec["details"]))


def restarts(p: Pipeline) -> list[str]:
    return [r for a, r in audit_actions(p) if a == "restart_service"]


@pytest.mark.procedure("Q1", "restart the web service and verify /health")
def test_api_down_is_restarted_and_verified(pipeline: Pipeline, sim: ServiceSim) -> None:
    """Runbook 002 INCIDENTE 1: "Sintoma: `curl /health` falha" → "`docker compose logs
    --tail 200 web`" → "Verificar Postgres e Redis" → "Reiniciar: `docker compose restart
    web`"."""
    sim.start_all()
    sim.stop("equivalence-api")
    [run] = pipeline.run_event(load_event(API))

    assert run["status"] == "SUCCEEDED", run
    assert sim.commands == [{"service": "equivalence-api", "command": "docker compose restart web"}]
    assert restarts(pipeline) == [
        "ssm:SendCommand 'docker compose restart web' on tag selfheal:host=equivalence: Success"
    ]
    actions = [a for a, _ in audit_actions(pipeline)]
    assert actions.index("check_service_diagnose") < actions.index("restart_service")
    verify = [r for a, r in audit_actions(pipeline) if a == "verify_service"]
    assert verify == ["equivalence-api: docker compose ps: web Up; /health answered 200"]
    record = record_of(pipeline)
    assert record["outcome"] == "FIXED" and record["resolved"] is True
    assert record["rootCause"] == "process not running: docker compose ps: web Exited (0)"
    assert [a["action"] for a in record["actions"]][:2] == [
        "check_service_diagnose",
        "restart_service",
    ]
    assert "remediation_guards" in record["actions"][1]["approvedBy"]
    assert not pages(pipeline)


def test_healthy_api_gets_no_action(pipeline: Pipeline, sim: ServiceSim) -> None:
    """Runbook 002 checklist: "Verificar health da API: curl -sS http://localhost:8000/health"
    answers: nothing to restart."""
    sim.start_all()
    [run] = pipeline.run_event(load_event(API))

    assert run["status"] == "SUCCEEDED"
    assert sim.commands == [] and restarts(pipeline) == []
    assert record_of(pipeline)["outcome"] == "NO_ACTION_NEEDED"
    assert not pages(pipeline)


@pytest.mark.procedure("Q1", "dependencies checked first")
@pytest.mark.procedure("Q1", "database down: people paged, nothing restarted")
def test_api_down_because_postgres_is_down_pages_people_and_restarts_nothing(
    pipeline: Pipeline, sim: ServiceSim
) -> None:
    """Runbook 002 INCIDENTE 1: "3. Verificar Postgres e Redis", "4. Reiniciar: `docker
    compose restart web`": the database is checked, never restarted by selfheal, and the
    web restart would not help while it is down: people are paged with what was seen."""
    sim.start_all()
    sim.stop("postgres")
    [run] = pipeline.run_event(load_event(API))

    assert run["error"] == "selfheal.NotFixed", run
    assert sim.commands == [], "neither the database nor the API restarted"
    assert record_of(pipeline)["rootCause"].startswith("dependency postgres down")
    page = pages(pipeline)[0]
    reason = page["message"]["reason"]
    assert page["level"] == "l1"
    assert "postgres down and NOT restarted (not selfheal's)" in reason
    assert "status: pg_isready: 127.0.0.1 - no response (no response)" in reason
    assert "restarts only 'web'" in reason
    assert "database system is shut down" in reason, "its last log lines go with the page"


@pytest.mark.procedure("Q1", "dependencies checked first")
def test_api_down_because_redis_is_down_gets_redis_first(
    pipeline: Pipeline, sim: ServiceSim
) -> None:
    """Runbook 002 INCIDENTE 1 passo 3 "Verificar Postgres e Redis" and INCIDENTE 2 "Se
    Redis estiver down, subir Redis primeiro": Redis restarted and verified brings the API
    back; the API is not restarted."""
    sim.start_all()
    sim.stop("redis")
    [run] = pipeline.run_event(load_event(API))

    assert run["status"] == "SUCCEEDED", run
    assert [c["service"] for c in sim.commands] == ["redis"]
    assert record_of(pipeline)["rootCause"].startswith("dependency redis down")
    verify = [r for a, r in audit_actions(pipeline) if a == "verify_service"]
    assert verify == [
        "redis: redis-cli ping: PONG",
        "equivalence-api: docker compose ps: web Up; /health answered 200",
    ]


@pytest.mark.procedure("B2", "verify status and read logs")
@pytest.mark.procedure("B5", "L1 15 min, L2 30 min, L3 1 h, L4 2 h")
def test_restart_that_does_not_help_escalates_with_the_logs_up_the_ladder(
    pipeline: Pipeline, sim: ServiceSim
) -> None:
    """Runbook 003 §4.1: "verify_status: systemctl status face_analyzer" → "check_logs:
    journalctl -u face_analyzer" → "restart_service" → "verify_health: curl
    http://localhost:8080/health"; §8.1 "Matriz": L1 Ops 15min, L2 Eng 30min, L3 Manager 1h,
    L4 Director 2h, each delivered to the level's subscriber."""
    sim.start_all()
    sim.restart_does_not_help("inference", "CUDA error: out of memory loading model v7")
    sim.stop("inference")
    [run] = pipeline.run_event(load_event(INFERENCE), timeout=240)

    assert run["status"] == "FAILED" and run["error"] == "selfheal.NotFixed", run
    assert [c["service"] for c in sim.commands] == ["inference"], "one restart, not a loop"
    *ladder, left = pages(pipeline)
    assert [p["level"] for p in ladder] == ["l1", "l2", "l3", "l4"]
    assert left["level"] == "ops", "told the incident stays open with people"
    assert {p["message"]["dedupKey"] for p in ladder} == {ladder[0]["message"]["incidentId"]}
    assert [p["message"]["who"] for p in ladder] == ["Ops", "Eng", "Manager", "Director"]
    first = ladder[0]["message"]["reason"]
    # The unit cannot start with its configuration: systemctl says the job failed.
    assert (
        "restart of inference failed" in first and "Job for face_analyzer.service failed" in first
    )
    assert "CUDA error: out of memory loading model v7" in first.split("log lines of inference")[1]
    record = record_of(pipeline)
    started = datetime.fromisoformat(record["startedAt"])
    at = [datetime.fromisoformat(p["message"]["at"]) for p in ladder]
    assert [round((t - started).total_seconds() / 60) for t in at] == [15, 30, 60, 120]
    assert record["resolved"] is False and record["downtime"].endswith("and counting")
    assert record["downtimeMinutes"] >= 120


@pytest.mark.procedure("B2", "restart and verify health")
def test_hung_inference_is_restarted_and_verified(pipeline: Pipeline, sim: ServiceSim) -> None:
    """Runbook 003 §4.1 "restart_service: systemctl restart face_analyzer" then
    "verify_health": a hung process (accepts, never answers) is found by the timeout."""
    sim.start_all()
    sim.hang("inference")
    [run] = pipeline.run_event(load_event(INFERENCE))

    assert run["status"] == "SUCCEEDED", run
    assert sim.commands == [{"service": "inference", "command": "systemctl restart face_analyzer"}]
    assert record_of(pipeline)["rootCause"].startswith("process hung")


@pytest.mark.procedure("Q2", "restart the worker and verify the backlog drains")
def test_stuck_worker_is_restarted_and_the_backlog_drains(
    pipeline: Pipeline, sim: ServiceSim
) -> None:
    """Runbook 002 INCIDENTE 2: "Jobs na fila RQ não são consumidos" → "Reiniciar worker:
    `docker compose restart worker`"; verified when the queue drains."""
    sim.start_all(equivalence_worker="stuck")
    sim.push_jobs(25)
    [run] = pipeline.run_event(load_event(WORKER), timeout=240)  # real restarts under load

    assert run["status"] == "SUCCEEDED", run
    assert [c["service"] for c in sim.commands] == ["equivalence-worker"]
    verify = [r for a, r in audit_actions(pipeline) if a == "verify_service"]
    assert len(verify) == 1 and verify[0].startswith("equivalence-worker: backlog drain")
    assert sim.host is not None and sim.host.evaluations() > 0, "the jobs ran, in PostgreSQL"
    assert re.fullmatch(
        r"none: jobs waited in the queue \(\d+ queued at the first check\)",
        record_of(pipeline)["dataLost"],
    )


@pytest.mark.procedure("Q2", "cache and queue checked first")
@pytest.mark.procedure("Q2", "Redis down: Redis up first, then the worker")
def test_worker_with_redis_down_gets_redis_first(pipeline: Pipeline, sim: ServiceSim) -> None:
    """Runbook 002 INCIDENTE 2: "Se Redis estiver down, subir Redis primeiro", then the
    worker: Redis comes back empty (no persistence), the RQ worker is registered nowhere
    (`rq info`: 0 workers) and is restarted; verified when it is registered again."""
    sim.start_all()
    sim.stop("redis")
    [run] = pipeline.run_event(load_event(WORKER))

    assert run["status"] == "SUCCEEDED", run
    assert [c["service"] for c in sim.commands] == ["redis", "equivalence-worker"]
    assert record_of(pipeline)["rootCause"].startswith("dependency redis down")
    verify = [r for a, r in audit_actions(pipeline) if a == "verify_service"]
    assert verify[0] == "redis: redis-cli ping: PONG"
    assert verify[-1] == "equivalence-worker: backlog drained: rq info says 0 jobs queued"
    assert record_of(pipeline)["dataLost"].startswith("unknown: redis was down; jobs queued")


@pytest.mark.procedure("M1", "restart the backend and verify data arriving")
@pytest.mark.procedure("M5", "incident record with downtime, data lost, root cause")
def test_stale_ingestion_is_restarted_until_data_arrives(
    pipeline: Pipeline, sim: ServiceSim
) -> None:
    """Runbook 004 "Sem Dados MQTT": "Gráficos sem dados nas últimas 2+ horas" → "pm2
    restart aupus-api" → "hoursSinceLastData": < 0.1 (menos de 6 minutos)"; the
    "Checklist Pós-Incidente": "Tempo de downtime", "Dados perdidos?", "Causa raiz"."""
    sim.seed_points(hours_ago=2.5)
    sim.start_all(aupus_ingestion="stale")
    [run] = pipeline.run_event(load_event(INGESTION))

    assert run["status"] == "SUCCEEDED", run
    assert sim.commands == [{"service": "aupus-ingestion", "command": "pm2 restart aupus-api"}]
    [verify] = [r for a, r in audit_actions(pipeline) if a == "verify_service"]
    assert (
        verify
        == "aupus-ingestion: pm2: aupus-api online; hoursSinceLastData under 0.1: data arriving"
    )
    # Runbook 004 "pm2 logs aupus-api | grep Carregando.*tópicos", as the backend wrote it.
    [diagnosis] = [r for a, r in audit_actions(pipeline) if a == "check_service_diagnose"]
    assert "; pm2 logs | grep MQTT: " in diagnosis
    assert "0 topics loaded at the last connection (Carregando 0 tópicos)" in diagnosis
    assert "the last: tópicos não carregados do banco: OperationalError" in diagnosis
    record = record_of(pipeline)
    assert record["rootCause"].startswith("no MQTT topic subscribed (0 topics)")
    assert record["dataLost"].startswith("2.5 h without data points")
    assert record["downtime"].endswith("min") and record["resolved"] is True


@pytest.mark.procedure("M1", "check MQTT_MODE in .env")
@pytest.mark.procedure("M5", "escalation ladder 0–30 / 30–60 / 60+ min")  # noqa: RUF001 (the catalog's exact branch name)
def test_wrong_mqtt_mode_is_found_and_paged_not_set(pipeline: Pipeline, sim: ServiceSim) -> None:
    """Runbook 004 passo 3: "cat .env | grep MQTT_MODE ... DEVE SER: MQTT_MODE=production. Se
    for development ou disabled, dados NÃO serão salvos!": a restart reads .env again and
    cannot help, so none is made (nor a slot of the restart budget spent); the page says
    why, and selfheal does not switch the mode itself (another instance may be in
    production: never two)."""
    site = sim.use_aupus()
    sim.start_all()
    assert site.vps is not None and site.deployment is not None
    vps = site.vps
    vps.set_mode("development")
    vps.restart()  # read at the restart: nothing is saved from now on
    site.deployment.database.age(2.5)
    [run] = pipeline.run_event(load_event(INGESTION), timeout=240)

    assert run["error"] == "selfheal.NotFixed", run
    [diagnosis] = [r for a, r in audit_actions(pipeline) if a == "check_service_diagnose"]
    assert "MQTT_MODE=development in .env: readings NOT saved" in diagnosis
    assert "MQTT_MODE=development" in (vps.root / ".env").read_text(), "not switched by selfheal"
    assert sim.commands == [], "no restart: it cannot help"
    reason = pages(pipeline)[0]["message"]["reason"]
    assert "aupus-ingestion NOT restarted: MQTT_MODE=development in .env" in reason
    # What the backend itself logged at that restart (runbook 004 "🔧 [MQTT] MODO
    # DESENVOLVIMENTO"), read from its pm2 log.
    assert "last start in MODO DESENVOLVIMENTO: readings are NOT saved" in reason
    assert record_of(pipeline)["rootCause"].startswith("MQTT_MODE=development in .env")
    assert "never two" in record_of(pipeline)["rootCause"]
    # Runbook 004 "Procedimento de Escalonamento": Nível 1 0-30, Nível 2 30-60, Nível 3 60+
    # minutes of the incident, to Dev disponível, Dev Lead, DevOps + Gerência.
    *ladder, _left = pages(pipeline)
    started = datetime.fromisoformat(record_of(pipeline)["startedAt"])
    at = [datetime.fromisoformat(p["message"]["at"]) for p in ladder]
    assert [(p["level"], p["message"]["who"]) for p in ladder] == [
        ("l1", "Dev disponível"),
        ("l2", "Dev Lead"),
        ("l3", "DevOps + Gerência"),
    ]
    assert [round((t - started).total_seconds() / 60) for t in at] == [0, 30, 60]


def test_healthy_ingestion_gets_no_action(pipeline: Pipeline, sim: ServiceSim) -> None:
    """Runbook 004: "Verificar se o backend está rodando" ... "Verificar dados chegando":
    data arriving, nothing to restart."""
    sim.use_aupus()
    sim.start_all()
    [run] = pipeline.run_event(load_event(INGESTION))

    assert run["status"] == "SUCCEEDED" and sim.commands == []
    assert record_of(pipeline)["outcome"] == "NO_ACTION_NEEDED"


def test_restart_command_failing_escalates(pipeline: Pipeline, sim: ServiceSim) -> None:
    """Runbook 002 INCIDENTE 1: the restart itself fails: escalated with what SSM said."""
    sim.start_all()
    sim.stop("equivalence-api")
    sim.fail_next_restart("equivalence-api")
    [run] = pipeline.run_event(load_event(API), timeout=240)

    assert run["error"] == "selfheal.NotFixed"
    first = pages(pipeline)[0]["message"]["reason"]
    assert "the command ended Failed: [PM2][ERROR] Process or Namespace web not found" in first


def test_no_fourth_restart_in_the_hour_and_the_budget_resets_by_itself(
    pipeline: Pipeline, sim: ServiceSim
) -> None:
    """Issue 12 item 2: "a per-service restart budget (default 3 per hour); when it is
    spent, no restart — escalate with the history of the last attempts. It resets by
    itself." (runbook 002 "Reiniciar: docker compose restart web", three times at most)."""
    sim.start_all()

    def incident() -> dict[str, Any]:
        sim.stop("equivalence-api")
        arn = pipeline.start_manual("service_recovery", {"service": "equivalence-api"})
        pipeline.wait([arn], timeout=240)
        return pipeline.execution_summary(arn)

    assert [incident()["status"] for _ in range(3)] == ["SUCCEEDED"] * 3
    fourth = incident()
    assert fourth["error"] == "selfheal.NotFixed"
    assert len(sim.commands) == 3, "no fourth restart in the hour"
    page = next(p for p in pages(pipeline) if p["level"] == "l1")["message"]["reason"]
    assert (
        "equivalence-api NOT restarted: restart budget spent (3 in the last hour, limit 3)" in page
    )
    assert page.count("recovered)") == 3, "the history of the last attempts"
    # The fourth incident's ladder took an hour: the first attempts aged out.
    assert incident()["status"] == "SUCCEEDED" and len(sim.commands) == 4


@pytest.mark.parametrize(
    ("payload", "named"),
    [
        ({"service": "no-such-service"}, "service: 'no-such-service' is not described"),
        ({"reason": "restart it"}, "service"),
        ("alarm", "detail.alarmName: 'billing-api-health' maps to no described service"),
        ("no alarm", "detail.alarmName: no alarm named 'billing-api-health'"),
    ],
)
def test_bad_input_fails_naming_the_field_and_acts_on_nothing(
    pipeline: Pipeline, sim: ServiceSim, payload: Any, named: str
) -> None:
    """DESIGN "Bad input gets a clear validation error naming the field, and is kept": the
    execution fails with the cause and pages; nothing is restarted."""
    sim.start_all()
    if payload in ("alarm", "no alarm"):
        event = load_event(API)
        event["detail"]["alarmName"] = "billing-api-health"
        if payload == "alarm":  # an alarm of the account that no service file names
            pipeline.client("cloudwatch").put_metric_alarm(
                AlarmName="billing-api-health",
                Namespace="Selfheal/Services",
                MetricName="HealthCheckFailed",
                Dimensions=[{"Name": "Service", "Value": "billing-api"}],
                Statistic="Maximum",
                Period=60,
                EvaluationPeriods=3,
                Threshold=0,
                ComparisonOperator="GreaterThanThreshold",
            )
        [run] = pipeline.run_event(event)
    else:
        arn = pipeline.start_manual("service_recovery", payload)
        pipeline.wait([arn])
        run = pipeline.execution_summary(arn)

    assert run["status"] == "FAILED" and run["error"] == "selfheal.Failed", run
    reason = pages(pipeline)[0]["message"]["reason"]
    assert "InputInvalid" in reason and named in reason, reason
    assert sim.commands == []


def test_kill_switch_before_the_run_restarts_nothing_and_pages(
    pipeline: Pipeline, sim: ServiceSim
) -> None:
    """DESIGN "One kill switch stops every remediator": the guard step refuses; the API is
    still down, so L1 hears of it."""
    sim.start_all()
    sim.stop("equivalence-api")
    guards.set_switch(guards.KILL_SWITCH, enabled=True, reason="drill", actor="test")
    [run] = pipeline.run_event(load_event(API))

    assert run["status"] == "SUCCEEDED" and sim.commands == []
    [page] = pages(pipeline)
    assert page["level"] == "l1" and page["message"]["outcome"] == "SKIPPED_BY_GUARD"


def test_kill_switch_set_after_the_guard_step_stops_the_restart(
    pipeline: Pipeline, sim: ServiceSim
) -> None:
    """The guards are read again right before the restart (Run.act), not only by the
    workflow's guard step: no SSM command is sent."""
    sim.start_all()
    sim.stop("equivalence-api")

    def hook(name: str, _event: Any) -> None:
        if name == "service_recover":
            guards.set_switch(guards.KILL_SWITCH, enabled=True, reason="stop!", actor="test")

    pipeline.lambdas.before_invoke.append(hook)
    [run] = pipeline.run_event(load_event(API))

    assert sim.commands == []
    assert not [r for r in pipeline.audit_records() if r["action"] == "restart_service_intent"]
    refused = [r for r in pipeline.audit_records() if r["action"] == "restart_service"]
    assert refused[0]["outcome"] == "SKIPPED_BY_GUARD"
    assert run["status"] == "FAILED" and pages(pipeline), "escalated, never silent"


@pytest.mark.procedure("M1", "check backend, broker and database")
def test_broker_down_is_not_restarted_and_goes_to_its_administrator(
    pipeline: Pipeline, sim: ServiceSim
) -> None:
    """Runbook 004 "Sem Dados MQTT": "1. Verificar se o backend está rodando" ... "4.
    Verificar broker MQTT ... Se broker offline: Entrar em contato com administrador do
    broker" ... "5. Verificar banco de dados": the broker is not selfheal's to restart, and
    restarting the backend would not bring data back."""
    sim.seed_points(hours_ago=2.5)
    sim.start_all()
    vps = sim.use_aupus().vps
    assert vps is not None
    mark = vps.mark()
    sim.stop("mqtt-broker")
    # A real signal before the alarm: the backend logged that its broker went away.
    vps.wait_log("ALERTA CRÍTICO: Broker OFFLINE", mark)
    [run] = pipeline.run_event(load_event(INGESTION), timeout=240)

    assert run["error"] == "selfheal.NotFixed", run
    assert sim.commands == [], "neither the broker nor the backend restarted"
    [diagnosis] = [r for a, r in audit_actions(pipeline) if a == "check_service_diagnose"]
    assert "; mqtt-broker: MQTT connect: Error: Connection refused" in diagnosis
    assert "; aupus-db: psql: SELECT 1 answered" in diagnosis
    page = pages(pipeline)[0]["message"]["reason"]
    assert "mqtt-broker down and NOT restarted (not selfheal's)" in page
    assert "administrador do broker" in page
    assert record_of(pipeline)["rootCause"].startswith("dependency mqtt-broker down")
    # Runbook 004 passo 2 "pm2 logs aupus-api | grep MQTT", read from what the backend
    # really wrote when its broker went away.
    assert "pm2 logs | grep MQTT (runbook 004 passo 2): " in page
    assert "broker OFFLINE (ALERTA CRÍTICO), no reconnection logged after it" in page


def test_service_fixed_by_people_during_the_ladder_is_recorded_not_credited(
    pipeline: Pipeline, sim: ServiceSim
) -> None:
    """Runbook 003 §8.1, L1 (Ops) paged at 15 min fixes it: the 30-min recheck finds it back,
    the ladder stops (no L2), L1 gets one resolve, and the record says 30 min down,
    resolved, but not by selfheal's restart."""
    sim.start_all()
    sim.restart_does_not_help("inference", "model file missing")
    sim.stop("inference")

    rechecks: list[str] = []

    def ops(name: str, event: Any) -> None:
        if name == "service_check" and event.get("step") == "recheck":
            rechecks.append(pipeline.clock.now().isoformat())
            if len(rechecks) == 2:  # after the L1 page at 15 min
                sim.fixed_by_hand("inference")

    pipeline.lambdas.before_invoke.append(ops)
    [run] = pipeline.run_event(load_event(INFERENCE), timeout=240)

    assert run["error"] == "selfheal.NotFixed", run
    assert [p["level"] for p in pages(pipeline)] == ["l1", "ops"]
    assert pages(pipeline)[1]["message"]["outcome"] == "NOT_FIXED"
    resolves = [n for n in pipeline.notifications() if n["message"].get("kind") == "resolve"]
    assert [n["level"] for n in resolves] == ["l1"], "one resolve, to the level paged"
    record = record_of(pipeline)
    assert record["resolved"] is True and record["outcome"] == "NOT_FIXED"
    assert record["downtimeMinutes"] == 30.0
    assert record["whatFixedIt"] == "back after the escalation, not through selfheal's restart"
    assert len(sim.commands) == 1, "selfheal restarted once; people did the rest"


def test_an_acknowledged_page_stops_the_ladder_and_the_incident_stays_open(
    pipeline: Pipeline, sim: ServiceSim
) -> None:
    """Issue 23: L1 acknowledges (`selfheal ack`) after its page at 15 min: no L2 at 30,
    the incident is left open with people (no resolve), and the record says so."""
    sim.start_all()
    sim.restart_does_not_help("inference", "model file missing")
    sim.stop("inference")

    def ack(name: str, event: Any) -> None:
        if name == "escalate" and event.get("chain") and pages(pipeline):
            incident = pages(pipeline)[0]["message"]["incidentId"]
            with contextlib.suppress(ValueError):
                page_chain.acknowledge(incident, by="maria")

    pipeline.lambdas.before_invoke.append(ack)
    [run] = pipeline.run_event(load_event(INFERENCE), timeout=240)

    assert run["error"] == "selfheal.NotFixed", run
    assert [p["level"] for p in pages(pipeline)] == ["l1", "ops"]
    assert not [n for n in pipeline.notifications() if n["message"].get("kind") == "resolve"]
    escalations = [r for a, r in audit_actions(pipeline) if a == "escalate"]
    assert any(e.startswith("acknowledged by maria at ") for e in escalations), escalations
    chain = page_chain.get(pages(pipeline)[0]["message"]["incidentId"])
    assert chain is not None and chain.acknowledgedBy == "maria" and chain.resolvedAt is None


@pytest.mark.procedure("B5", "L1 15 min, L2 30 min, L3 1 h, L4 2 h")
def test_the_ladder_counts_from_the_incidents_start_not_from_the_first_page(
    pipeline: Pipeline, sim: ServiceSim
) -> None:
    """Runbook 003 §8.1's times (L1 15min, L2 30min, L3 1h, L4 2h) are minutes of the
    incident. An alarm whose trouble began 20 minutes before the workflow ran pages L1 at
    once (its 15 minutes are past), L2 10 minutes later, L3 and L4 at the incident's 60th
    and 120th minutes."""
    sim.start_all()
    sim.restart_does_not_help("inference", "model file missing")
    sim.stop("inference")
    event = load_event(INFERENCE)
    began = datetime.fromisoformat(event["time"].replace("Z", "+00:00")) - timedelta(minutes=20)
    event["detail"]["state"]["timestamp"] = began.strftime("%Y-%m-%dT%H:%M:%S.000+0000")
    [run] = pipeline.run_event(event, timeout=240)

    assert run["error"] == "selfheal.NotFixed", run
    *ladder, _left = pages(pipeline)
    assert [p["level"] for p in ladder] == ["l1", "l2", "l3", "l4"]
    at = [datetime.fromisoformat(p["message"]["at"]) for p in ladder]
    started = datetime.fromisoformat(record_of(pipeline)["startedAt"])
    assert [round((t - started).total_seconds() / 60) for t in at] == [20, 30, 60, 120]
