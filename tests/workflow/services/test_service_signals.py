"""service_recovery from the raw signal (runbook 002 INCIDENTE 1): the probe that publishes
the `equivalence-api-health` metric in production (functions/services/service_probe, every minute)
reads the real API process; the alarm the pipeline created from `events/alarms/` goes to
ALARM by evaluation (HealthCheckFailed > 0 in 2 of the last 3 minutes), its state change
starts the workflow, which restarts the API; probed healthy again, the alarm returns to
OK. No hand-written alarm event."""

from __future__ import annotations

import json
from typing import Any

from local.runtime import Pipeline
from local.worlds.services import ServiceSim
from tests.workflow.services.conftest import audit_actions

ALARM = "equivalence-api-health"


def probe_minute(p: Pipeline) -> dict[str, Any]:
    """The scheduled probe's run now, then the minute passes (its boundary is evaluated)."""
    done: dict[str, Any] = p.lambdas.handler_for("service_probe")(
        {"trigger": "schedule", "scheduledTime": p.clock.now().isoformat()}, None
    )
    p.clock.advance(60)
    return done


def state(p: Pipeline) -> str:
    [found] = p.client("cloudwatch").describe_alarms(AlarmNames=[ALARM])["MetricAlarms"]
    return str(found["StateValue"])


def test_a_failing_health_probe_raises_the_alarm_and_the_api_is_restarted(
    pipeline: Pipeline, sim: ServiceSim
) -> None:
    sim.start_all()
    done = probe_minute(pipeline)
    assert (
        done["published"]["Selfheal/Services/HealthCheckFailed {'Service': 'equivalence-api'}"] == 0
    )
    assert state(pipeline) == "INSUFFICIENT_DATA"  # one fine minute of three: undecided

    sim.stop("equivalence-api")
    probe_minute(pipeline)
    assert pipeline.started == []  # 1 of 3 failing: not yet
    probe_minute(pipeline)  # 2 of the last 3 failing

    [arn] = [a for a in pipeline.started if ":service_recovery-" in a]
    [event] = [
        j.data["event"]
        for j in pipeline.journal
        if j.kind == "event" and j.data["event"]["detail"].get("alarmName") == ALARM
    ]
    assert event["detail"]["state"]["value"] == "ALARM"
    assert event["detail"]["state"]["reason"].startswith(
        "Threshold Crossed: 2 out of the last 3 datapoints"
    )
    assert json.loads(event["detail"]["state"]["reasonData"])["recentDatapoints"] == [0.0, 1.0, 1.0]
    pipeline.wait([arn], timeout=120)
    run = pipeline.execution_summary(arn)
    assert run["status"] == "SUCCEEDED", run
    assert [c["service"] for c in sim.commands] == ["equivalence-api"]
    assert (
        "verify_service",
        "equivalence-api: docker compose ps: web Up; /health answered 200",
    ) in audit_actions(pipeline)

    for _ in range(2):  # probed healthy again: two fine minutes of three
        probe_minute(pipeline)
    assert state(pipeline) == "OK"
    assert any(
        j.kind == "alarm" and j.text.startswith(f"alarm {ALARM}: ALARM -> OK")
        for j in pipeline.journal
    )
    assert [a for a in pipeline.started if ":service_recovery-" in a] == [arn]  # OK starts none
