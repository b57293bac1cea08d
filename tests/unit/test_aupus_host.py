"""The Aupus ingestion backend as real managed hosts (runbook 004; issue 21 item 2): each
host's own pm2 runs `aupus-api` against a real mosquitto and a real PostgreSQL, and the
runbook's checks, run through the pipeline's SSM agent, read what the processes did.
Every wait is on the app's own log line (or the SSM answer), bounded."""

from __future__ import annotations

import dataclasses
import json
import re
import socket
import urllib.error
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from selfheal_cdk import spec as spec_mod

from local.broker import Broker, mosquitto
from local.runtime import Pipeline
from local.worlds import World
from local.worlds.ingestion.aupus import AupusDeployment, AupusHost
from local.worlds.ingestion.aupus.host import HANDLED

#: A reading's time: fixed (the unique key is equipment + ts, not the arrival).
TS = datetime(2024, 12, 29, 14, 0, tzinfo=UTC)
P2002 = "P2002: Unique constraint failed on the fields: (`equipamento_id`,`ts`)"


@pytest.fixture(scope="module")
def pipeline() -> Iterator[Pipeline]:
    """Hosts and SSM only: no function, rule or state machine to build."""
    spec = dataclasses.replace(spec_mod.load(), rules={}, workflows={}, schedules={}, functions={})
    world = World.load().spec.model_copy(deep=True)
    world.services, world.ingestion, world.edgeSites = [], [], []
    world.fiscal = world.forecasting = None
    with Pipeline(world=World(world), spec=spec) as p:
        yield p


@pytest.fixture
def broker() -> Iterator[Broker]:
    with mosquitto() as b:
        yield b


@pytest.fixture
def aupus(pipeline: Pipeline, broker: Broker) -> Iterator[AupusDeployment]:
    deployment = AupusDeployment.create(pipeline, broker)
    try:
        yield deployment
    finally:
        deployment.close()


def handled(host: AupusHost, aupus: AupusDeployment, equipamento: str, ts: datetime,
            potencia: object = 12.5) -> str:  # fmt: skip
    """Publish one reading and return the line `host` printed for it."""
    mark = host.mark()
    aupus.publish(equipamento, ts, potencia)
    return host.wait_log(HANDLED, mark)


def stdout(inv: dict[str, Any]) -> str:
    assert inv["Status"] == "Success", inv
    return str(inv["StandardOutputContent"])


def test_a_production_instance_saves_a_reading_and_the_data_is_recent(
    aupus: AupusDeployment,
) -> None:
    vps = aupus.host("aupus-vps", "production")
    assert "💾 [MQTT] Buffer flush" in handled(vps, aupus, "inv-01", TS)

    [row] = aupus.rows()
    assert (row.equipamento_id, row.ts, row.instance_id) == ("inv-01", TS, "production-server")
    assert row.payload["potencia"] == 12.5
    logs = vps.logs()
    assert "🚀 [MQTT] MODO PRODUÇÃO - Instância: production-server\n" in logs
    assert "✅ [MQTT] Conectado com sucesso!\n" in logs
    assert "📡 [MQTT] Carregando 4 tópicos MQTT...\n" in logs
    # what the runbook's checks read, through the host's SSM agent
    recent = stdout(
        vps.run("curl -sS -w '\\n%{http_code}\\n' http://localhost:$PORT/health/dados-recentes")
    )
    body, code = recent.rstrip("\n").rsplit("\n", 1)
    assert code == "200"
    assert json.loads(body)["status"] == "ok" and json.loads(body)["hoursSinceLastData"] < 0.1
    code, health = vps.http("/health")
    assert (code, health["status"], health["mqtt"], health["database"]) == (
        200, "healthy", "connected", "connected",
    )  # fmt: skip
    code, metrics = vps.http("/health/metrics")
    assert metrics["dataIngestion"]["last24h"]["coverage"] == 25.0  # 1 of 4 known equipment
    assert metrics["quality"]["last24h"]["goodPercentage"] == 100.0
    assert stdout(vps.run("cat .env | grep MQTT_MODE")) == "MQTT_MODE=production\n"


def test_a_development_instance_saves_nothing(aupus: AupusDeployment) -> None:
    backup = aupus.host("aupus-backup", "development")
    assert handled(backup, aupus, "inv-02", TS) == "📨 [DEV] Buffer flush simulado (não salva)"
    assert aupus.rows() == []
    assert "🔧 [MQTT] MODO DESENVOLVIMENTO\n" in backup.logs()
    code, recent = backup.http("/health/dados-recentes")
    assert (code, recent["status"], recent["lastDataAt"]) == (200, "critical", None)


def test_two_instances_in_production_collide_on_p2002(aupus: AupusDeployment) -> None:
    """Runbook 004 "Erro P2002": both receive the reading, one row is saved, the other
    instance's log says P2002."""
    vps = aupus.host("aupus-vps", "production")
    backup = aupus.host("aupus-backup", "production", instance_id="backup-emergency-20241229")
    marks = {h.name: h.mark() for h in (vps, backup)}
    aupus.publish("inv-03", TS, 7.0)
    lines = {h.name: h.wait_log(HANDLED, marks[h.name]) for h in (vps, backup)}

    [row] = aupus.rows()
    winner, loser = (vps, backup) if row.instance_id == vps.instance_id else (backup, vps)
    assert "💾" in lines[winner.name] and P2002 in lines[loser.name]
    out = stdout(loser.run("pm2 logs aupus-api --lines 100 --nostream | grep P2002"))
    [line] = out.splitlines()
    assert "❌ [MQTT] ERRO: " + P2002 in line and "inv-03" in line
    assert "P2002" not in winner.logs()


def test_a_backup_switched_to_development_through_ssm_stops_writing(
    aupus: AupusDeployment,
) -> None:
    backup = aupus.host("aupus-backup", "production", instance_id="backup-emergency-20241229")
    assert "💾" in handled(backup, aupus, "inv-01", TS)
    backup.set_mode("development")
    # `.env` is read at start only: the running instance still saves
    assert "💾" in handled(backup, aupus, "inv-01", TS + timedelta(minutes=1))

    mark = backup.mark()
    out = stdout(backup.run("pm2 restart aupus-api", "grep MQTT_MODE .env"))
    assert "MQTT_MODE=development" in out
    backup.ready(mark)
    assert backup.wait_log("🔧 [MQTT] MODO DESENVOLVIMENTO", mark)
    assert "📨 [DEV]" in handled(backup, aupus, "inv-01", TS + timedelta(minutes=2))
    assert [r.ts for r in backup.written()] == [TS, TS + timedelta(minutes=1)]


def test_a_fenced_instance_cannot_write_says_so_and_stays_up(aupus: AupusDeployment) -> None:
    vps = aupus.host("aupus-vps", "production")
    pid = vps.pid()
    vps.fence()
    line = handled(vps, aupus, "meter-01", TS)
    assert line.startswith("❌ [MQTT] ERRO: ")
    assert "permission denied for table equipamentos_dados" in line
    assert aupus.rows() == []
    [app] = vps.jlist()
    assert (vps.pid(), app["pm2_env"]["status"], app["pm2_env"]["restart_time"]) == (
        pid, "online", 0,
    )  # fmt: skip
    vps.unfence()
    assert "💾" in handled(vps, aupus, "meter-01", TS)


def test_pm2_reports_the_app_online_killed_and_restarted_then_stopped(
    aupus: AupusDeployment,
) -> None:
    vps = aupus.host("aupus-vps", "production")
    [app] = json.loads(stdout(vps.run("pm2 jlist")))
    assert (app["name"], app["pm2_env"]["status"], app["pid"]) == ("aupus-api", "online", vps.pid())

    new_pid = vps.kill()  # pm2's autorestart brings it back
    [app] = vps.jlist()
    assert (app["pid"], app["pm2_env"]["status"], app["pm2_env"]["restart_time"]) == (
        new_pid, "online", 1,
    )  # fmt: skip

    vps.stop()
    [app] = json.loads(stdout(vps.run("pm2 jlist")))
    assert app["pm2_env"]["status"] == "stopped"
    assert "stopped" in stdout(vps.run("pm2 status aupus-api"))
    with pytest.raises(urllib.error.URLError):
        vps.http("/health")


def test_a_broker_going_down_shows_on_health_mqtt(aupus: AupusDeployment, broker: Broker) -> None:
    vps = aupus.host("aupus-vps", "production")
    mark = vps.mark()
    broker.stop()
    vps.wait_log("🔴 [MQTT] ALERTA CRÍTICO: Broker OFFLINE!", mark)
    code, mqtt = vps.http("/health/mqtt")
    assert (code, mqtt["status"], mqtt["subscribedTopics"]) == (200, "disconnected", 0)
    code, health = vps.http("/health")
    assert code == 503 and "MQTT desconectado" in health["reason"]

    mark = vps.mark()
    broker.start()
    vps.wait_log(re.compile(r"\d+ tópicos inscritos"), mark)
    assert vps.http("/health/mqtt")[1]["status"] == "connected"


def test_a_frozen_instance_is_alive_and_answers_nothing(aupus: AupusDeployment) -> None:
    vps = aupus.host("aupus-vps", "production")
    vps.freeze()
    try:
        with pytest.raises((TimeoutError, socket.timeout, urllib.error.URLError)):
            vps.http("/health", timeout=0.5)
        assert vps.status() == "online", "pm2 sees nothing wrong"
    finally:
        vps.thaw()
    assert vps.http("/health")[0] == 200


def test_an_unreachable_host_gets_no_command_and_keeps_writing(
    aupus: AupusDeployment, pipeline: Pipeline
) -> None:
    vps = aupus.host("aupus-vps", "production")
    vps.unreachable()
    inv = vps.run("pm2 restart aupus-api")
    assert (inv["Status"], inv["StatusDetails"]) == ("TimedOut", "Delivery Timed Out")
    [info] = pipeline.client("ssm").describe_instance_information(
        Filters=[{"Key": "tag:selfheal:host", "Values": ["aupus-vps"]}]
    )["InstanceInformationList"]
    assert info["PingStatus"] == "ConnectionLost"
    assert "💾" in handled(vps, aupus, "inv-02", TS)
    assert [r.instance_id for r in aupus.rows()] == ["production-server"]
    assert vps.jlist()[0]["pm2_env"]["restart_time"] == 0, "the restart never reached it"


def test_data_that_stopped_arriving_is_a_warning_then_critical(aupus: AupusDeployment) -> None:
    vps = aupus.host("aupus-vps", "production")
    assert "💾" in handled(vps, aupus, "inv-01", TS)
    aupus.database.age(0.5)
    code, recent = vps.http("/health/dados-recentes")
    assert (recent["status"], round(recent["hoursSinceLastData"], 1)) == ("warning", 0.5)
    aupus.database.age(2.0)
    code, recent = vps.http("/health/dados-recentes")
    assert (code, recent["status"], recent["checks"]["recentData"]["status"]) == (
        200, "critical", "critical",
    )  # fmt: skip
    assert recent["hoursSinceLastData"] >= 2.0
