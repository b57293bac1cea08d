"""service_recovery end to end with real processes (runbooks 002, 003, 004; issue 12
items 1, 2, 6): status -> logs -> dependencies first -> restart through SSM Run Command ->
verify -> escalation ladder, and a post-incident record for every incident."""

from __future__ import annotations

import json
from typing import Any

import pytest

from local.runtime import Pipeline
from local.services.sim import ServiceSim
from tests.helpers import SAMPLES, load_event
from tests.services.conftest import audit_actions, pages

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
    assert verify == ["equivalence-api: /health answered 200"]
    record = record_of(pipeline)
    assert record["outcome"] == "FIXED" and record["resolved"] is True
    assert record["rootCause"].startswith("process not running: /health: not answering")
    assert [a["action"] for a in record["actions"]][:2] == [
        "check_service_diagnose",
        "restart_service",
    ]
    assert "remediation_guards" in record["actions"][1]["approvedBy"]
    assert not pages(pipeline)


@pytest.mark.procedure("Q1", "healthy: no action")
def test_healthy_api_gets_no_action(pipeline: Pipeline, sim: ServiceSim) -> None:
    """Runbook 002 checklist: "Verificar health da API: curl -sS http://localhost:8000/health"
    answers: nothing to restart."""
    sim.start_all()
    [run] = pipeline.run_event(load_event(API))

    assert run["status"] == "SUCCEEDED"
    assert sim.commands == [] and restarts(pipeline) == []
    assert record_of(pipeline)["outcome"] == "SKIPPED_BY_GUARD"
    assert not pages(pipeline)
