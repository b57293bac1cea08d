"""Runbook 004's checks of the Aupus site as the service workflows run them (the described
services `aupus-ingestion`, `mqtt-broker`, `aupus-db`; the check document's phases), on a
live site: the real output of pm2, curl, grep, psql and mosquitto_sub is read by
`host_checks`, and kept as fixtures (tests/fixtures/host_output/aupus_checks/, rewritten
with SELFHEAL_CAPTURE=1) that the readers must read the same way."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from selfheal_cdk import spec as spec_mod
from selfheal_shared.services import check_document, host_checks, service_spec

from local.runtime import Pipeline
from local.worlds.services.aupus_site import AupusSite
from tests.helpers import hosts_only_pipeline

FIXTURES = spec_mod.ROOT / "tests" / "fixtures" / "host_output" / "aupus_checks"
CAPTURE = os.environ.get("SELFHEAL_CAPTURE") == "1"
#: What differs from host to host in an output: its directory, its database's name.
MACHINE = re.compile(r"/tmp/[^\s\"']+|aupus_\d+_\d+|(?<=port )\d+")


@pytest.fixture(scope="module")
def pipeline() -> Iterator[Pipeline]:
    yield from hosts_only_pipeline()


@pytest.fixture
def site(pipeline: Pipeline) -> Iterator[AupusSite]:
    s = AupusSite(pipeline)
    try:
        yield s
    finally:
        s.close()


def check(p: Pipeline, service: str, name: str, phase: str = "check") -> host_checks.Reading:
    """The check document's `phase` for `service`, sent through SSM as the workflows send
    it; its output read, and kept (or compared with the kept fixture `name`)."""
    spec = service_spec.get(service)
    assert spec.ssm is not None and spec.check is not None
    ssm = p.client("ssm")
    command = ssm.send_command(
        DocumentName=check_document.NAME,
        Targets=[{"Key": f"tag:{spec.ssm.tagKey}", "Values": [spec.ssm.tagValue]}],
        Parameters={"service": [service], "phase": [phase]},
    )["Command"]
    [inv] = ssm.list_command_invocations(CommandId=command["CommandId"])["CommandInvocations"]
    got = ssm.get_command_invocation(CommandId=command["CommandId"], InstanceId=inv["InstanceId"])
    reads = spec.report.reads if phase == "report" and spec.report else spec.check.reads
    live = {
        "service": service,
        "phase": phase,
        "reads": reads,
        "exitCode": got["ResponseCode"],
        "stdout": host_checks.PORT.sub(r"\1", MACHINE.sub("X", got["StandardOutputContent"])),
        "stderr": host_checks.PORT.sub(r"\1", MACHINE.sub("X", got["StandardErrorContent"])),
    }
    reading = host_checks.READERS[reads](live["exitCode"], live["stdout"], live["stderr"])
    path = FIXTURES / f"{name}.json"
    if CAPTURE:
        FIXTURES.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(live, indent=1, ensure_ascii=False) + "\n")
    kept: dict[str, Any] = json.loads(path.read_text())
    again = host_checks.READERS[reads](kept["exitCode"], kept["stdout"], kept["stderr"])
    assert (again.up, again.detail) == (reading.up, reading.detail), name
    return reading


def test_the_site_read_as_the_runbook_reads_it(pipeline: Pipeline, site: AupusSite) -> None:
    """Runbook 004 "Sem Dados MQTT" passos 1-5 and "Dados Parciais" on a live site: healthy,
    the wrong MQTT_MODE in .env, equipment silent, the backend stopped, the database
    refusing connections, the broker down."""
    site.equipment_offline(["meter-01"])
    vps = site.start()
    assert check(pipeline, "aupus-ingestion", "aupus_ok").detail == (
        "pm2: aupus-api online; hoursSinceLastData under 0.1: data arriving"
    )
    assert check(pipeline, "mqtt-broker", "mqtt_connect_ok").up
    assert check(pipeline, "aupus-db", "psql_select_ok").detail == (
        "psql: SELECT 1 answered (the backend's DATABASE_URL)"
    )
    report = check(pipeline, "aupus-ingestion", "aupus_report", "report")
    assert report.up and report.data["silent"] == ["meter-01"]
    assert report.data["subscribedTopics"] == 4 and report.data["coverage"] == 75.0
    assert sorted(report.data["equipment"]) == ["inv-01", "inv-02", "inv-03", "meter-01"]

    vps.set_mode("development")
    down = check(pipeline, "aupus-ingestion", "aupus_development")
    assert not down.up and down.data["envMode"] == "development"
    assert "MQTT_MODE=development in .env: readings NOT saved" in down.detail
    vps.set_mode("production")

    site.kill("aupus-ingestion")
    assert check(pipeline, "aupus-ingestion", "aupus_stopped").detail == "pm2: aupus-api stopped"
    site.kill("aupus-db")
    refused = check(pipeline, "aupus-db", "psql_select_refused")
    assert refused.detail == "psql: database is not currently accepting connections"
    site.kill("mqtt-broker")
    assert check(pipeline, "mqtt-broker", "mqtt_connect_refused").detail == (
        "MQTT connect: Error: Connection refused"
    )


def test_a_backend_that_loaded_no_topic_is_stale_with_zero_subscriptions(
    pipeline: Pipeline, site: AupusSite
) -> None:
    """Runbook 004 "subscribedTopics": XX <-- Deve ser > 0: the backend started while its
    database refused connections, so it loaded no topic; the last data is 2.5 h old."""
    site.seed(hours_ago=2.5)
    site.start(stale=True)
    stale = check(pipeline, "aupus-ingestion", "aupus_stale")
    assert not stale.up
    assert stale.detail == (
        "pm2: aupus-api online; hoursSinceLastData 2.5 (>= 0.1); 0 MQTT topics subscribed"
    )
    assert stale.data["mqtt"]["subscribedTopics"] == 0


def test_every_fixture_is_one_a_test_captures() -> None:
    names = {p.stem for p in Path(FIXTURES).glob("*.json")}
    source = Path(__file__).read_text()
    assert names and all(f'"{n}"' in source for n in names)
