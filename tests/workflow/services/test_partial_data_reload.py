"""partial_data for a scope a described ingestion service subscribes (runbook 004 "Dados
Parciais/Incompletos", M3; issue 12 item 5): the subscribed topics are checked, lost
subscriptions are reloaded by restarting the service through the recovery remediator, and
the report says what came back; what stays silent goes up the ladder."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import pytest
from selfheal_shared.core import windows
from selfheal_shared.services.service_recovery import HOUR, budget_key

from local.runtime import Pipeline
from local.worlds.services import ServiceSim
from tests.helpers import SAMPLES, load_event
from tests.workflow.services.conftest import audit_actions, pages

AUPUS = SAMPLES / "partial_data.aupus_coverage_alarm.json"


def results(p: Pipeline, action: str) -> list[str]:
    return [r for a, r in audit_actions(p) if a == action]


@pytest.mark.procedure("M3", "reload topic subscriptions")
def test_lost_subscriptions_are_reloaded_and_the_report_says_what_came_back(
    pipeline: Pipeline, sim: ServiceSim
) -> None:
    """Runbook 004: "Métricas mostram cobertura < 50%" → "Verificar tópicos MQTT subscritos"
    → "Solução: 1. Recarregar tópicos MQTT: pm2 restart aupus-api" → "Deve mostrar:
    📡 [MQTT] Carregando XX tópicos MQTT..."."""
    sim.seed_points(hours_ago=1)
    sim.lose_topics(["inv-02", "inv-03", "meter-01"])
    sim.start_all()
    [run] = pipeline.run_event(load_event(AUPUS))

    assert run["workflow"] == "partial_data" and run["status"] == "SUCCEEDED", run
    [checked] = results(pipeline, "check_subscribed_topics")
    assert checked == (
        "aupus-ingestion: 1 of 4 topics subscribed (3 not subscribed); 3 of 4 equipment silent "
        "in the last hour: inv-02, inv-03, meter-01"
    )
    assert sim.commands == [{"service": "aupus-ingestion", "command": "pm2 restart aupus-api"}]
    [back] = results(pipeline, "report_what_came_back")
    assert back == (
        "aupus-mqtt after the reload: came back: inv-02, inv-03, meter-01; "
        "still silent: none (4 of 4 topics subscribed)"
    )
    assert not pages(pipeline)
    [record] = [r for r in pipeline.audit_records() if r["action"] == "post_incident_record"]
    details = json.loads(record["details"])
    assert details["outcome"] == "FIXED" and details["resolved"] is True
    assert details["rootCause"].startswith("3 of 4 equipment topics not subscribed")
    assert details["dataLost"].startswith("1 h without data points")


def test_a_reload_that_could_not_be_made_is_escalated_not_credited(
    pipeline: Pipeline, sim: ServiceSim
) -> None:
    """The reload's restart is not made (the restart budget was spent by three restarts in
    the last hour): nothing is reported as having come back "after the reload"; L1 is
    paged with what the recovery said."""
    now = pipeline.clock.now().timestamp()
    for n in range(3):
        slot = {"incident": f"earlier-{n}", "key": f"earlier-{n}", "result": "recovered"}
        windows.take(budget_key("aupus-ingestion"), 3, HOUR, now, slot)
    sim.seed_points(hours_ago=1)
    sim.lose_topics(["inv-02", "inv-03", "meter-01"])
    sim.start_all()
    [run] = pipeline.run_event(load_event(AUPUS), timeout=240)

    assert run["status"] == "FAILED" and run["error"] == "selfheal.NotFixed", run
    assert "NotReloaded" in run["states"] and "AfterReload" not in run["states"]
    assert results(pipeline, "report_what_came_back") == []
    first = pages(pipeline)[0]
    assert first["level"] == "l1"
    assert "aupus-ingestion NOT restarted: restart budget spent" in first["message"]["reason"]
    assert sim.commands == []
    outcomes = [json.loads(r["details"])["outcome"] for r in pipeline.audit_records()
                if r["action"] == "post_incident_record"]  # fmt: skip
    assert "FIXED" not in outcomes


@pytest.mark.procedure("M3", "check the subscribed topics")
@pytest.mark.procedure("M3", "escalation: L2 at 30 min, L3 at 60 min")
def test_equipment_silent_with_every_topic_subscribed_is_not_reloaded_and_escalates(
    pipeline: Pipeline, sim: ServiceSim
) -> None:
    """Runbook 004 "Possíveis Causas: 1. Equipamentos offline: Verificar fisicamente se
    equipamentos estão ligados": every topic subscribed ("subscribedTopics": XX <-- Deve
    ser > 0), so a reload would not help; "Nível 2 (30-60 min)", "Nível 3 (60+ min)"."""
    sim.seed_points(hours_ago=1)
    sim.equipment_offline(["inv-03", "meter-01"])
    sim.start_all()
    [run] = pipeline.run_event(load_event(AUPUS), timeout=240)

    assert run["status"] == "FAILED" and run["error"] == "selfheal.NotFixed", run
    assert sim.commands == [], "nothing reloaded: the topics are subscribed"
    *ladder, left = pages(pipeline)
    assert [p["level"] for p in ladder] == ["l1", "l2", "l3"]
    assert left["level"] == "ops", "told the incident stays open with people"
    at = [datetime.fromisoformat(p["message"]["at"]) for p in ladder]
    assert [round((t - at[0]).total_seconds() / 60) for t in at] == [0, 30, 60]
    reason = ladder[0]["message"]["reason"]
    assert "2 of 4 equipment silent: inv-03, meter-01" in reason
    assert "every topic is subscribed" in reason and "not reloaded" in reason
    assert len(results(pipeline, "recheck_silent_equipment")) == 2
    [record] = [r for r in pipeline.audit_records() if r["action"] == "post_incident_record"]
    details = json.loads(record["details"])
    assert details["resolved"] is False and details["postMortemDue"] is False
    assert details["rootCause"].startswith("every topic is subscribed")


@pytest.mark.procedure("M3", "escalation: L2 at 30 min, L3 at 60 min")
def test_the_ladder_and_the_record_count_from_the_incidents_start_not_the_survey(
    pipeline: Pipeline, sim: ServiceSim
) -> None:
    """Runbook 004 "Escalação": "Nível 2 (30-60 min)", "Nível 3 (60+ min)" are minutes of
    the incident. A coverage alarm whose state changed 20 minutes before the workflow ran
    pages L2 10 minutes after L1 and L3 at the incident's 60th minute (the same ladder as
    M1's), and the post-incident record starts when the alarm did, not at the survey."""
    sim.seed_points(hours_ago=1)
    sim.equipment_offline(["inv-03", "meter-01"])
    sim.start_all()
    event = load_event(AUPUS)
    sent = datetime.fromisoformat(event["time"].replace("Z", "+00:00"))
    changed = sent - timedelta(minutes=20)
    event["detail"]["state"]["timestamp"] = changed.strftime("%Y-%m-%dT%H:%M:%S.000+0000")
    # Replayed as sent now (the pinned clock): its state changed 20 minutes before that.
    began = pipeline.clock.now() - timedelta(minutes=20)
    [run] = pipeline.run_event(event, timeout=240)

    assert run["error"] == "selfheal.NotFixed", run
    *ladder, left = pages(pipeline)
    assert [p["level"] for p in ladder] == ["l1", "l2", "l3"]
    assert left["level"] == "ops", "told the incident stays open with people"
    at = [datetime.fromisoformat(p["message"]["at"]) for p in ladder]
    [record] = [r for r in pipeline.audit_records() if r["action"] == "post_incident_record"]
    details = json.loads(record["details"])
    assert datetime.fromisoformat(details["startedAt"]) == began
    assert [round((t - began).total_seconds() / 60) for t in at] == [20, 30, 60]
    assert details["downtimeMinutes"] == 60.0


def test_aupus_scope_with_nothing_silent_says_it_is_quality_not_silence(
    pipeline: Pipeline, sim: ServiceSim
) -> None:
    """Runbook 004 "4. Verificar qualidade dos dados ... goodPercentage: XX% <-- Ideal >
    80%": every topic subscribed and every equipment sending: no reload, one page."""
    sim.seed_points(hours_ago=0)
    sim.start_all()
    [run] = pipeline.run_event(load_event(AUPUS))

    assert run["error"] == "selfheal.NotFixed" and sim.commands == []
    [page] = pages(pipeline)
    assert page["level"] == "l1"
    assert "0 of 4 equipment silent: none" in page["message"]["reason"]
    assert "check the data quality" in page["message"]["reason"]
