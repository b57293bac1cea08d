"""`selfheal demo` is reproducible: virtual time starts at a pinned instant, saved events
are placed on it, ids are seeded, and the timeline prints no wall-clock durations. Its
numbers are true and each incident has one id in every line (issue 9, item 9).

Every sample does its job: its scene (its domain's world, local/worlds/<domain>/scenes.py)
gives it what a deployment has (its edge on mosquitto, real ingestion instances, a mapper, a
person who acknowledges), and each incident ends as `EXPECTED` says, from the workflow's own
checks.

Determinism is checked against a committed golden file, `demo_timelines.txt`: the whole
output of `selfheal demo` run in another process. Each part of the demo (a sample, a
world's act: `cli.demo_parts`, each in its own pipeline) is checked on its own, in this
test process after whatever ran before it, against its section of that file: the parts
spread over the suite's workers instead of one long test. A change that alters the
timelines on purpose rewrites the file with

    .venv/bin/selfheal demo > tests/workflow/demo_timelines.txt

and the diff goes into the same commit (review it: it is the demo's output).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from selfheal_cdk import spec as spec_mod

from local import worlds
from local.cli import DEMO_HEADER, demo_parts

#: `selfheal demo`'s whole output, committed (rewritten with SELFHEAL_CAPTURE=1; see above).
GOLDEN = Path(__file__).with_name("demo_timelines.txt")
FIXED = ("SUCCEEDED", "FIXED")
#: A page chain's watcher: ended by the incident's resolve, or every level paged unanswered.
WATCH_ENDED = ("SUCCEEDED", "")
UNANSWERED = ("FAILED", "selfheal.Unanswered")
#: sample -> each incident's (status, last outcome or the Fail's error), in timeline order.
#: A new sample needs a row here (and a scene in its domain's world,
#: local/worlds/<domain>/scenes.py, if it needs one).
EXPECTED: dict[str, list[tuple[str, str]]] = {
    # Runbook 000 §6 "P2 < 1h": no automated fix; the edge clears it at minute 20 and the
    # response ends with people (Responded is a Fail by design).
    "battery_alarm.soc_critical": [("FAILED", "selfheal.Escalated")],
    # "Delta > 200mV: Equalização forçada": 250 mV apart, equalized and verified.
    # The P1's page chain watcher ends once the verified equalization resolved the chain.
    "cell_imbalance.imbalance_alarm": [FIXED, WATCH_ENDED],
    # The intake hands on (no action of its own); "NÃO religar até normalizar temperatura".
    "edge_alarm_intake.over_temperature_alarm": [("SUCCEEDED", ""), FIXED, UNANSWERED],
    "edge_alarm_intake.over_temperature_ok": [("SUCCEEDED", "")],
    # Runbook 000 §5 "COMMUNICATION_LOSS" from a connected controller: a link behind it (the
    # BMS) is lost; diagnosed and paged on the P2 clock, never restarted; nobody restores it.
    "edge_link_lost.bms_link_lost": [("FAILED", "selfheal.Escalated")],
    # A hung controller: the agent answers the probe, the restart brings it back.
    "edge_offline_ladder.last_will_offline": [FIXED],
    # "NUNCA fazer reset sem identificar causa": reset only after the person's approval.
    "emergency_stop.estop_alarm": [FIXED, WATCH_ENDED],
    # Runbook 001 "Falha Crítica do Sistema": contained, paged; restored at the gate.
    "critical_failure.critical_function_alarm": [FIXED],
    "freeze_ingestion.validation_failures_alarm": [FIXED],
    # Runbook 001 "Escalar instância do InfluxDB": 1.5 s writes on medium, approved at the
    # gate, large is AVAILABLE after 12 min and the alarm back to OK at 30.
    "influx_write_failures.write_latency_alarm": [FIXED],
    "ingestion_failover.primary_back": [FIXED],
    "ingestion_failover.primary_down": [FIXED],
    "instance_conflict.p2002_alarm": [FIXED],
    "mapper_degraded.timeouts_alarm": [FIXED],
    # Runbook 000 §6 P1: hot until the lock is released at 45 min; nobody acknowledges the
    # maintenance page, so the chain's watcher pages L2 at 15 and L3 at 30 minutes and ends
    # telling ops nobody answered (a Fail by design); the release resolves each level paged.
    "over_temperature.over_temperature_alarm": [FIXED, UNANSWERED],
    # A sample chain for an incident that never paged: the watcher finds no chain, ends.
    "page_chain.p1_chain_opened": [WATCH_ENDED],
    # Runbook 004 "Dados Parciais": the survey is paged; reloading is not automated.
    "partial_data.coverage_alarm": [("FAILED", "selfheal.NotFixed")],
    "partial_data.good_quality_alarm": [("FAILED", "selfheal.NotFixed")],
    "retrain_model.mape_alarm": [FIXED],
    "rollback_on_5xx.apigateway_5xx_alarm": [FIXED],
    "rollback_on_5xx.composite_5xx_alarm": [FIXED],
    "rollback_on_5xx.lambda_errors_alarm": [FIXED],
    # Runbook 004 "Recarregar tópicos MQTT": three subscriptions lost, reloaded, came back.
    "partial_data.aupus_coverage_alarm": [FIXED],
    # Runbooks 002/003/004, each service broken for real on 127.0.0.1 and restarted by SSM:
    # the API killed, the inference hung, the worker stuck on a backlog, ingestion stale.
    "service_recovery.api_health_alarm": [FIXED],
    "service_recovery.inference_health_alarm": [FIXED],
    "service_recovery.worker_backlog_alarm": [FIXED],
    "service_recovery.ingestion_stale_alarm": [FIXED],
    "edge controller goes silent": [FIXED],
}


PARTS = dict(demo_parts())


def golden_sections() -> tuple[str, dict[str, str]]:
    """The golden file's header and each part's section (from its `=== title` line on)."""
    header, *sections = GOLDEN.read_text().split("\n=== ")
    return header, {
        section.split("\n", 1)[0].split(" (")[0]: "=== " + section for section in sections
    }


def test_the_golden_file_is_the_whole_demo_in_its_order() -> None:
    header, sections = golden_sections()
    assert header == DEMO_HEADER
    assert list(sections) == [title.split(" (")[0] for title in PARTS]


@pytest.mark.parametrize("title", list(PARTS))
def test_each_demo_part_prints_its_committed_timeline(
    title: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert PARTS[title]() == 0
    out = capsys.readouterr().out
    name = title.removeprefix("events/samples/").removesuffix(".json").split(" (")[0]
    check_numbers_and_ids(out)
    assert outcomes("\n" + out) == {name: EXPECTED[name]}
    assert "ms\n" not in out, "no wall-clock durations"
    if name == "edge_offline_ladder.last_will_offline":
        # The sample edge went offline "now" on the virtual clock, not on its capture date.
        assert "RESOLVED edge-cps-002 back after 2.8 min" in out
    if name == "freeze_ingestion.validation_failures_alarm":
        gate = r"GATE +awaiting a human decision for freeze_ingestion-[0-9a-f]{16}\n"
        assert re.search(gate, out)
    # The same timeline as the committed run's, line for line.
    expected = golden_sections()[1][title.split(" (")[0]]
    assert out.rstrip("\n").splitlines() == expected.rstrip("\n").splitlines(), (
        f"{title} differs from {GOLDEN.name}"
    )


def test_every_sample_has_an_expected_outcome_and_scenes_name_real_samples() -> None:
    samples = {p.name.removesuffix(".json") for p in (spec_mod.ROOT / "events/samples").glob("*")}
    assert samples <= set(EXPECTED), "add the new sample's row to EXPECTED"
    for key in worlds.scenes():
        assert any(s == key or s.startswith(key + ".") for s in samples), key
    assert worlds.scene_for(Path("instance_conflict.p2002_alarm.json")).stage is not None
    assert worlds.scene_for(Path("retrain_model.mape_alarm.json")) is worlds.NONE
    assert worlds.scene_for(Path("x/freeze_ingestion.any.json")).acknowledge == ("ons-geracao",)


def outcomes(out: str) -> dict[str, list[tuple[str, str]]]:
    """Each demo section's incidents as (status, the last action's outcome, or the error of
    a run that failed), read from the printed timeline."""
    found: dict[str, list[tuple[str, str]]] = {}
    for section in out.split("\n=== ")[1:]:
        title = section.split("\n", 1)[0]
        name = title.removeprefix("events/samples/").removesuffix(".json").split(" (")[0]
        found[name] = []
        incidents = re.findall(
            r"^  incident [\w-]+: (\w+) after .*\n((?:    .*\n)*)", section, flags=re.M
        )
        for status, body in incidents:
            actions = re.search(r"actions: (.*)", body)
            last = actions[1].split(", ")[-1].split(" ")[-1] if actions else ""
            error = re.search(r"error:\s+([\w.]+):", body)
            found[name].append((status, error[1] if error else "" if last == "none" else last))
    return found


def check_numbers_and_ids(out: str) -> None:
    """No "offline 3245 min" for an outage minutes old; the gate, the answer to it and the
    incident's summary name the incident by the same id (the one `selfheal approve` takes)."""
    for timeline in out.split("Incident timeline")[1:]:
        for offset, minutes in re.findall(r"\+\s*(\d+):\d\d .* offline (\d+) min", timeline):
            assert int(minutes) <= int(offset), f"offline {minutes} min at +{offset} min"
        gates = re.findall(r"GATE .* for ([\w-]+)", timeline)
        headers = re.findall(r"^  incident ([\w-]+): ", timeline, flags=re.M)
        if gates:
            assert set(gates) == set(headers), (gates, headers)
