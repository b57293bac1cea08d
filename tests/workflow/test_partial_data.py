"""partial_data end to end (runbook 004 "Dados Parciais/Incompletos", M3): a coverage or
good-quality alarm lists the silent sources and pages the data on-call; it never freezes."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest

from local.runtime import Pipeline
from local.worlds import WorldSpec
from tests.helpers import SAMPLES, load_event

COVERAGE = SAMPLES / "partial_data.coverage_alarm.json"
QUALITY = SAMPLES / "partial_data.good_quality_alarm.json"
RUNNING = {
    "rules": {
        "ons-s3-processing-rule": "ENABLED",
        "ons-api-ingest-rule": "ENABLED",
        "ons-reporting-rule": "ENABLED",
    },
    "running": {"ons-processing": 2, "ons-reporting": 2},
    "mappings": {"ons-influxdb-loader": "Enabled", "ons-metrics-loader": "Enabled"},
}


@pytest.fixture
def silent_world(ingestion_world_spec: WorldSpec) -> WorldSpec:
    """Three sources reporting every 2 h; two went quiet 6 h and 9 h ago."""
    ing = ingestion_world_spec.ingestion[0]
    ing.objectsPerDay = {"ons-carga": 12, "ons-geracao": 12, "ons-intercambio": 12}
    ing.todayFactor = {}
    ing.silentForHours = {"ons-carga": 6, "ons-intercambio": 9}
    return ingestion_world_spec


def state(p: Pipeline) -> dict[str, Any]:
    return p.world.ingestion_state(p, p.world.spec.ingestion[0])


def pages(p: Pipeline) -> list[dict[str, Any]]:
    return [n for n in p.notifications() if "ESCALATION" in (n["subject"] or "")]


@pytest.mark.procedure("M3", "silent sources listed, reload not done: escalated")
def test_coverage_alarm_lists_silent_sources_and_never_freezes(
    make_pipeline: Any, silent_world: WorldSpec
) -> None:
    """Runbook 004: "Métricas mostram cobertura < 50%" → "Verificar quais equipamentos
    estão enviando dados" → "Solução: Recarregar tópicos MQTT". The list goes to the data
    on-call; the reload is not automated, so nothing claims it was done."""
    p = make_pipeline(world_spec=silent_world)
    [run] = p.run_event(load_event(COVERAGE), gate_decision="resume")

    assert run["workflow"] == "partial_data"
    assert run["status"] == "FAILED" and run["error"] == "selfheal.NotFixed"
    assert state(p) == RUNNING, "the 42 % still arriving keeps arriving"
    survey = next(r for r in p.audit_records() if r["action"] == "list_silent_sources")
    assert survey["result"].startswith("2 of 3 sources silent")
    report = json.loads(survey["details"])
    assert [s["source"] for s in report["silent"]] == ["ons-carga", "ons-intercambio"]
    assert report["sending"] == ["ons-geracao"]
    [page] = pages(p)
    assert page["level"] == "l1"
    reason = page["message"]["reason"]
    assert "ons-carga" in reason and "ons-intercambio" in reason and "ons-geracao" not in reason
    assert "NOT reloaded" in reason
    assert page["message"]["doneBeforeStopping"]["survey"]["silentCount"] == 2
    assert [a["outcome"] for a in run["actions"]] == ["NOT_FIXED", "ESCALATED"]
    assert not any(a["name"].startswith(("freeze", "resume")) for a in run["actions"])


@pytest.mark.procedure("M3", "no source silent: data quality, escalated")
def test_quality_alarm_with_every_source_sending_says_it_is_not_silence(
    make_pipeline: Any, ingestion_world_spec: WorldSpec
) -> None:
    """Runbook 004: "Verificar qualidade dos dados ... goodPercentage: XX% <-- Ideal > 80%"."""
    p = make_pipeline(world_spec=ingestion_world_spec)
    [run] = p.run_event(load_event(QUALITY))

    assert run["workflow"] == "partial_data" and run["error"] == "selfheal.NotFixed"
    assert state(p) == RUNNING
    [page] = pages(p)
    assert "no source silent (all 3 sent" in page["message"]["reason"]
    assert "check the data quality" in page["message"]["reason"]


@pytest.mark.procedure("D3", "partial data is not corruption: no freeze")
def test_coverage_alarm_starts_no_freeze(make_pipeline: Any, silent_world: WorldSpec) -> None:
    """Near miss of freeze_ingestion: runbook 001 freezes only "Se suspeita de corrupção de
    dados"; low coverage is runbook 004's "dados parciais"."""
    p = make_pipeline(world_spec=silent_world)
    arns = p.put_event(load_event(COVERAGE))
    p.wait(arns, until_parked=True)

    assert [p.execution_summary(a)["workflow"] for a in arns] == ["partial_data"]
    assert not [r for r in p.audit_records() if r["action"].startswith("freeze")]
    assert state(p) == RUNNING


@pytest.mark.procedure("M3", "scope without a processed bucket: escalated as failed")
def test_unknown_scope_escalates_the_failure(make_pipeline: Any, silent_world: WorldSpec) -> None:
    event = load_event(COVERAGE)
    metric = event["detail"]["configuration"]["metrics"][0]["metricStat"]["metric"]
    metric["dimensions"]["IngestionScope"] = "no-such-platform"
    p = make_pipeline(world_spec=silent_world)
    [run] = p.run_event(event)

    assert run["status"] == "FAILED" and run["error"] == "selfheal.Failed"
    assert {n["level"] for n in pages(p)} == {"l1", "l2"}
    reason = pages(p)[0]["message"]["reason"]
    assert "NothingFound" in reason and "no-such-platform" in reason


def put_coverage(p: Pipeline, percent: float, seconds: int = 30) -> None:
    """The data platform's own metric: the share of sources that sent data in 24 h."""
    p.client("cloudwatch").put_metric_data(
        Namespace="DataPlatform/Quality",
        MetricData=[
            {
                "MetricName": "CoveragePercent",
                "Dimensions": [{"Name": "IngestionScope", "Value": "ons-platform"}],
                "Value": percent,
                "Timestamp": p.clock.now() + timedelta(seconds=seconds),
            }
        ],
    )


@pytest.mark.procedure("M3", "silent sources listed, reload not done: escalated")
def test_coverage_put_by_the_platform_raises_the_alarm_by_evaluation(
    make_pipeline: Any, silent_world: WorldSpec
) -> None:
    """From the raw signal: CoveragePercent under 50 (runbook 004 "cobertura < 50%") in a
    5-minute period turns `ons-platform-coverage` to ALARM (from INSUFFICIENT_DATA: it had no
    data), partial_data runs; back over 50 it returns to OK, which starts nothing."""
    p = make_pipeline(world_spec=silent_world)
    put_coverage(p, 97)
    p.clock.advance(300)
    put_coverage(p, 42)
    p.clock.advance(300)
    [arn] = p.started
    p.wait([arn])
    run = p.execution_summary(arn)
    assert run["workflow"] == "partial_data" and run["error"] == "selfheal.NotFixed", run
    assert state(p) == RUNNING

    put_coverage(p, 61)
    p.clock.advance(300)
    moves = [
        (e["detail"]["previousState"]["value"], e["detail"]["state"]["value"])
        for e in (j.data["event"] for j in p.journal if j.kind == "event")
        if e["detail"]["alarmName"] == "ons-platform-coverage"
    ]
    assert moves == [("INSUFFICIENT_DATA", "OK"), ("OK", "ALARM"), ("ALARM", "OK")]
    assert p.started == [arn]
