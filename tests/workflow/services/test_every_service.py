"""The same procedure for each described service the issue names (API down SEV-1, worker
not consuming SEV-2, inference down, MQTT ingestion stale): healthy → no action; down →
restarted and verified; restart does not help → escalated with the logs; budget spent →
no fourth restart in the hour."""

from __future__ import annotations

import json

import pytest

from local.runtime import Pipeline
from local.worlds.services import ServiceSim
from tests.helpers import SAMPLES, load_event
from tests.workflow.services.conftest import audit_actions, pages

ALARMS = {
    "equivalence-api": "service_recovery.api_health_alarm.json",
    "equivalence-worker": "service_recovery.worker_backlog_alarm.json",
    "inference": "service_recovery.inference_health_alarm.json",
    "aupus-ingestion": "service_recovery.ingestion_stale_alarm.json",
}
SERVICES = pytest.mark.parametrize("service", sorted(ALARMS))
#: What each service's own log says when its restart does not help: on the Equivalence
#: host, the web logs the error it is given and the worker, pointed at a Redis that is not
#: there, says so itself (rq's words); on the inference host, face_analyzer says why it
#: cannot start; on the Aupus VPS, aupus-api cannot bind its port (another process has it).
SAID_IN_LOGS = {
    "equivalence-api": "[ERROR] web: equivalence-api: fatal: config file unreadable",
    "equivalence-worker": "Error 111 connecting to 127.0.0.1:1. Connection refused.",
    "inference": "face_analyzer: ERROR inference: fatal: config file unreadable",
    "aupus-ingestion": "Address already in use",
}


def alarm(service: str) -> dict[str, object]:
    return load_event(SAMPLES / ALARMS[service])


def prepare(sim: ServiceSim, service: str) -> None:
    """The Aupus site (its broker, database and VPS) only for the service that runs there."""
    if service == "aupus-ingestion":
        sim.use_aupus()


def restarted(sim: ServiceSim) -> list[str]:
    return [c["service"] for c in sim.commands]


@SERVICES
def test_healthy_service_gets_no_action(pipeline: Pipeline, sim: ServiceSim, service: str) -> None:
    """Runbook 002 "Checklist diário" / 003 "verify_status" / 004 "Validação": the service
    answers, so nothing is restarted and nobody is paged."""
    prepare(sim, service)
    sim.start_all()
    [run] = pipeline.run_event(alarm(service))

    assert run["status"] == "SUCCEEDED", run
    assert restarted(sim) == [] and not pages(pipeline)
    assert [a for a, _ in audit_actions(pipeline)] == [
        "check_service_diagnose",
        "post_incident_record",
    ]


@SERVICES
def test_down_service_is_restarted_and_verified(
    pipeline: Pipeline, sim: ServiceSim, service: str
) -> None:
    """Runbooks 002 "Reiniciar", 003 "restart_service" → "verify_health", 004 "pm2 restart
    aupus-api" → "Verificar dados chegando"."""
    prepare(sim, service)
    sim.start_all()
    sim.stop(service)
    [run] = pipeline.run_event(alarm(service))

    assert run["status"] == "SUCCEEDED", run
    assert restarted(sim) == [service]
    [verify] = [r for a, r in audit_actions(pipeline) if a == "verify_service"]
    assert verify.startswith(f"{service}: ") and "NOT" not in verify


@SERVICES
def test_restart_that_does_not_help_is_escalated_with_the_logs(
    pipeline: Pipeline, sim: ServiceSim, service: str
) -> None:
    """Issue 12: "escalate with what was found when not" (runbook 002 "docker compose logs
    --tail 200", 003 "journalctl -u", 004 "pm2 logs aupus-api --lines 50")."""
    prepare(sim, service)
    sim.start_all()
    sim.restart_does_not_help(service, f"{service}: fatal: config file unreadable")
    sim.stop(service)
    [run] = pipeline.run_event(alarm(service), timeout=240)

    assert run["error"] == "selfheal.NotFixed", run
    assert restarted(sim) == [service]
    first = pages(pipeline)[0]
    assert first["level"] == "l1"
    logs = first["message"]["reason"].split(f"log lines of {service}: ")[1]
    assert SAID_IN_LOGS[service] in logs


@SERVICES
def test_no_fourth_restart_in_the_hour(pipeline: Pipeline, sim: ServiceSim, service: str) -> None:
    """Issue 12 item 2: "a per-service restart budget (default 3 per hour); when it is
    spent, no restart — escalate with the history of the last attempts"."""
    prepare(sim, service)
    sim.start_all()
    for n in range(4):
        sim.stop(service)
        arn = pipeline.start_manual("service_recovery", {"service": service, "reason": f"#{n}"})
        pipeline.wait([arn], timeout=240)
    assert restarted(sim) == [service] * 3
    [circuit] = [r for a, r in audit_actions(pipeline) if a == "circuit_open"]
    assert circuit.startswith(f"{service} NOT restarted; last attempts: ")
    assert circuit.count("recovered)") == 3
    record = json.loads(
        [r for r in pipeline.audit_records() if r["action"] == "post_incident_record"][-1][
            "details"
        ]
    )
    assert record["resolved"] is False


def test_the_page_and_the_audit_carry_redacted_log_lines(
    pipeline: Pipeline, sim: ServiceSim
) -> None:
    """Runbook 002 §9 "Logar PII" is forbidden: the log excerpt a page and the audit carry
    has the e-mail and the token replaced, the error itself kept."""
    service = "equivalence-api"
    sim.start_all()
    sim.restart_does_not_help(service, "auth failed for ana@example.com token=abc123xyz")
    sim.stop(service)
    [run] = pipeline.run_event(alarm(service), timeout=240)

    assert run["error"] == "selfheal.NotFixed", run
    first = pages(pipeline)[0]
    text = json.dumps(first) + json.dumps(pipeline.audit_records())
    assert "auth failed for [email] token=[secret]" in text
    assert "ana@example.com" not in text and "abc123xyz" not in text
