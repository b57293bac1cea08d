"""mapper_degraded end to end (runbook 002 "INCIDENTE 3 — Mapper externo não responde", Q3):
a real external mapper on 127.0.0.1 (local/worlds/api/mapper_service.py), the AppConfig feature flag
`fallbackMapper`, and the state machine that turns it on and, after a sustained healthy
period of real probes, off again."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
from selfheal_cdk import spec as spec_mod
from selfheal_shared.api import mapper_mode

from local.runtime import Pipeline
from local.worlds import World
from local.worlds.api import mapper, register
from local.worlds.ingestion import Process, Processes
from tests.helpers import SAMPLES, load_event, spec_for

ALARM = SAMPLES / "mapper_degraded.timeouts_alarm.json"
WORKFLOWS = ("mapper_degraded",)


@pytest.fixture(scope="module")
def mapper_spec() -> spec_mod.Spec:
    return spec_for(WORKFLOWS)


@pytest.fixture
def processes() -> Iterator[Processes]:
    procs = Processes()
    try:
        yield procs
    finally:
        procs.kill_all()


@pytest.fixture
def start(make_pipeline: Any, mapper_spec: spec_mod.Spec, processes: Processes) -> Any:
    """A pipeline with the engine's flag profile deployed (`fallbackMapper` off) and the
    `embed` mapper registered at the URL of `proc` (started here)."""

    def make(proc: Process) -> tuple[Pipeline, mapper_mode.AppConfigTarget]:
        spec = World.load().spec.model_copy(deep=True)
        spec.services, spec.ingestion, spec.edgeSites = [], [], []
        spec.fiscal = spec.forecasting = None
        p: Pipeline = make_pipeline(world_spec=spec, spec=mapper_spec)
        processes.add("embed", proc)
        target = register(p, "embed", proc)
        return p, target

    return make


def switches(p: Pipeline) -> list[tuple[str, datetime]]:
    """The switches as acted (the notification credits them again, with their outcome)."""
    return [
        (r["action"], datetime.fromisoformat(r["at"]))
        for r in p.audit_records()
        if r["action"] in ("fallback_mapper_on", "fallback_mapper_off") and not r.get("outcome")
    ]


@pytest.mark.procedure("Q3", "switch to the fallback mapper")
@pytest.mark.procedure("Q3", "switch back when healthy")
def test_timeouts_turn_the_fallback_on_and_a_sustained_healthy_period_turns_it_off(
    start: Any,
) -> None:
    """Runbook 002 "INCIDENTE 3": "Avaliações falham com timeout ou erro de conexão" →
    "Verificar fallback mapper (modo degradado)" → "Fallback mapper deve ativar
    automaticamente"; back once `curl .../health` answers for 15 minutes."""
    p, target = start(mapper(fail_first=3))
    [run] = p.run_event(load_event(ALARM))

    assert run["workflow"] == "mapper_degraded" and run["status"] == "SUCCEEDED", run
    assert not mapper_mode.flag_on(target, "fallbackMapper")
    (on, on_at), (off, off_at) = switches(p)
    assert (on, off) == ("fallback_mapper_on", "fallback_mapper_off")
    # probes 1-3 fail (minutes 1-3), healthy from minute 4: off at minute 19.
    assert off_at - on_at == timedelta(minutes=3 + 1 + mapper_mode.HEALTHY_MINUTES)
    notes = p.notifications()
    assert [n["subject"] for n in notes] == [
        "[selfheal] mapper_degraded: degraded mode ON (fallbackMapper)",
        "[selfheal] mapper_degraded: FIXED",
    ]
    assert all(n["level"] == "ops" for n in notes)
    assert "fallbackMapper on in" in notes[0]["message"]["summary"]
    assert "back from the fallback mapper" in notes[1]["message"]["summary"]
    assert any(
        d.startswith("fallback_mapper_off: fallbackMapper off") for d in notes[1]["message"]["done"]
    )


@pytest.mark.procedure("Q3", "switch back when healthy")
def test_a_flap_restarts_the_healthy_period(start: Any) -> None:
    """Runbook 002 "Testar: curl http://localhost:9001/health": one failed probe inside the
    period means the mapper is not back yet; the 15 minutes start again."""
    p, _ = start(mapper(fail_first=1, fail_at=(10,)))
    [run] = p.run_event(load_event(ALARM))

    assert run["status"] == "SUCCEEDED", run
    (_, on_at), (_, off_at) = switches(p)
    # healthy from probe 2, fails at 10, healthy again from 11: off at minute 26.
    assert off_at - on_at == timedelta(minutes=10 + 1 + mapper_mode.HEALTHY_MINUTES)
    flap = next(r for r in p.audit_records() if "starts again" in r.get("result", ""))
    assert "answered 503" in flap["result"]
    assert (
        "1 flaps"
        in next(r for r in p.audit_records() if r["action"] == "fallback_mapper_off")["why"]
    )


@pytest.mark.procedure("Q3", "switch to the fallback mapper")
def test_a_mapper_that_never_recovers_keeps_the_fallback_on_and_pages(start: Any) -> None:
    """Runbook 002 classifies it SEV-3; with no healthy period within the hour degraded mode
    stays on and L1 is paged (runbook 000 escalation)."""
    p, target = start(mapper(fail_first=10_000))
    [run] = p.run_event(load_event(ALARM), timeout=120)

    assert run["status"] == "FAILED" and run["error"] == "selfheal.NotFixed"
    assert mapper_mode.flag_on(target, "fallbackMapper")
    assert [a for a, _ in switches(p)] == ["fallback_mapper_on"]
    [page] = [n for n in p.notifications() if n["level"] == "l1"]
    assert "the fallback mapper stays ON" in page["message"]["reason"]


def test_an_unregistered_mapper_fails_naming_its_parameter_and_switches_nothing(
    start: Any,
) -> None:
    p, target = start(mapper())
    event = load_event(ALARM)
    metric = event["detail"]["configuration"]["metrics"][0]["metricStat"]["metric"]
    metric["dimensions"]["Mapper"] = "llm"
    [run] = p.run_event(event)

    assert run["status"] == "FAILED" and run["error"] == "selfheal.Failed"
    reason = next(n for n in p.notifications() if n["level"] == "l1")["message"]["reason"]
    assert "NothingFound" in reason and "/selfheal/mapper/llm" in reason
    assert not mapper_mode.flag_on(target, "fallbackMapper")
    assert switches(p) == []


@pytest.mark.procedure("Q3", "switch to the fallback mapper")
def test_timeouts_counted_by_the_engine_raise_the_alarm_that_turns_the_fallback_on(
    start: Any,
) -> None:
    """From the raw signal: the engine's own metric (calls to the embed mapper that timed
    out, `EquivalenceEngine/Mappers MapperTimeouts`) sums to 5 in a 5-minute period,
    `equivalence-embed-mapper-timeouts` goes to ALARM by evaluation and the workflow turns
    the fallback on (and, the mapper healthy, off again). No hand-written alarm event."""
    p, target = start(mapper(fail_first=3))
    cw = p.client("cloudwatch")
    for n in range(5):
        cw.put_metric_data(
            Namespace="EquivalenceEngine/Mappers",
            MetricData=[
                {
                    "MetricName": "MapperTimeouts",
                    "Dimensions": [{"Name": "Mapper", "Value": "embed"}],
                    "Value": 1,
                    "Timestamp": p.clock.now() + timedelta(seconds=20 + 50 * n),
                }
            ],
        )
    p.clock.advance(300)
    [arn] = p.started
    p.wait([arn], timeout=120)
    run = p.execution_summary(arn)
    assert run["status"] == "SUCCEEDED", run
    assert [a for a, _ in switches(p)] == ["fallback_mapper_on", "fallback_mapper_off"]
    assert not mapper_mode.flag_on(target, "fallbackMapper")
    [event] = [
        j.data["event"]
        for j in p.journal
        if j.kind == "event" and j.data["event"]["detail"]["state"]["value"] == "ALARM"
    ]
    assert event["detail"]["alarmName"] == "equivalence-embed-mapper-timeouts"
    assert json.loads(event["detail"]["state"]["reasonData"])["recentDatapoints"] == [5.0]
