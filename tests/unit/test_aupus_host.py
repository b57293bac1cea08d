"""The Aupus ingestion backend as real managed hosts (runbook 004; issue 21 item 2): each
host's own pm2 runs `aupus-api` against a real mosquitto and a real PostgreSQL, and the
runbook's checks, run through the pipeline's SSM agent, read what the processes did.
Every wait is on the app's own log line (or the SSM answer), bounded."""

from __future__ import annotations

import json
import os
import re
import socket
import urllib.error
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from selfheal_cdk import spec as spec_mod
from selfheal_shared.ingestion import ingestion_documents as docs
from selfheal_shared.services import host_checks

from local.broker import Broker, mosquitto
from local.runtime import Pipeline
from local.worlds.ingestion.aupus import AupusDeployment, AupusHost
from local.worlds.ingestion.aupus import app as aupus_app
from local.worlds.ingestion.aupus.host import HANDLED, _gone
from tests.helpers import hosts_only_pipeline

ROOT = spec_mod.ROOT
#: A reading's time: fixed (the unique key is equipment + ts, not the arrival).
TS = datetime(2024, 12, 29, 14, 0, tzinfo=UTC)
P2002 = "P2002: Unique constraint failed on the fields: (`equipamento_id`,`ts`)"


@pytest.fixture(scope="module")
def pipeline() -> Iterator[Pipeline]:
    yield from hosts_only_pipeline()


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
    recent = stdout(vps.run(docs.ENV_PORT, f"{CURL}/health/dados-recentes"))
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


def test_a_database_down_is_unhealthy_and_the_readings_meanwhile_are_logged_lost(
    aupus: AupusDeployment,
) -> None:
    vps = aupus.host("aupus-vps", "production")
    assert "💾" in handled(vps, aupus, "inv-01", TS)  # a connection the restart will drop
    cluster = aupus.database.cluster
    cluster.stop()
    try:
        code, db = vps.http("/health/database")
        assert (code, db["status"]) == (503, "disconnected")
        code, health = vps.http("/health")
        assert code == 503 and "banco de dados inacessível" in health["reason"]
        line = handled(vps, aupus, "inv-01", TS + timedelta(minutes=1))
        assert line.startswith("❌ [MQTT] ERRO: falha ao salvar dados de inv-01: ")
    finally:
        cluster.start()
    assert "💾" in handled(vps, aupus, "inv-01", TS + timedelta(minutes=2))
    assert [r.ts.minute for r in vps.written()] == [0, 2]


def test_the_configuration_is_env_under_the_environment_and_ts_takes_every_form(
    tmp_path: Path,
) -> None:
    """As the Node backend's dotenv: a variable already set wins over `.env` (how
    `MQTT_MODE=x pm2 restart aupus-api --update-env` sets it)."""
    (tmp_path / ".env").write_text("# comment\nMQTT_MODE=development\nPORT='3000'\n")
    config = aupus_app.read_config(tmp_path, {"MQTT_MODE": "production", "HOME": "/root"})
    assert config == {"MQTT_MODE": "production", "PORT": "3000"}
    ms = int(TS.timestamp() * 1000)
    assert {
        aupus_app.parse_ts(v)
        for v in (
            TS.timestamp(),
            ms,
            "2024-12-29T14:00:00Z",
            "2024-12-29T11:00:00-03:00",
            "2024-12-29T14:00:00",
        )
    } == {TS}
    with pytest.raises(ValueError):
        aupus_app.parse_ts(True)


def test_teardown_kills_the_daemon_and_the_app_even_frozen(aupus: AupusDeployment) -> None:
    vps = aupus.host("aupus-vps", "production")
    daemon = int((vps.pm2_home / "pm2.pid").read_text())
    app = vps.pid()
    vps.freeze()
    aupus.close()
    assert _gone(daemon, 5.0) and _gone(app, 5.0)
    assert vps.host is None, "closed once: the pipeline's own close finds nothing to do"


# -- the hosts' real output, kept as fixtures for the parsers -----------------------------

FIXTURES = ROOT / "tests" / "fixtures" / "host_output" / "aupus"
#: `SELFHEAL_CAPTURE=1`: write the fixtures from the live hosts instead of checking them.
CAPTURE = os.environ.get("SELFHEAL_CAPTURE") == "1"
CAPTURED_WITH = "pm2 6.0.14 / curl 7.88 / mosquitto 2.0 / PostgreSQL 15 on Debian 12"
ANSI = re.compile(r"\x1b\[[0-9;]*m")
CURL = "curl -sS -w '\\n%{http_code}\\n' http://localhost:$PORT"
#: What pm2 keeps of the app's environment that is pm2's or the app's own (the rest is the
#: host's: paths, ports, the database's name).
PM2_OWN_ENV = {"aupus-api", "PYTHONUNBUFFERED", "PYTHONDONTWRITEBYTECODE", "PM2_JSON_PROCESSING",
               "PM2_USAGE", "unique_id"}  # fmt: skip
PID = 4242


def _trim_jlist(out: str, host: AupusHost) -> str:
    """The host's environment out of pm2's copy of it; paths and pids made machine-free."""
    apps = json.loads(out)
    for app in apps:
        env = app["pm2_env"]
        for key in [k for k in env if re.fullmatch(r"[A-Z_][A-Z0-9_]*", k)]:
            if key not in PM2_OWN_ENV and key != "NODE_APP_INSTANCE":
                del env[key]
        env["env"] = {k: v for k, v in env["env"].items() if k in PM2_OWN_ENV}
        app["pid"] = PID if app["pid"] else 0
    compact = json.dumps(apps, ensure_ascii=False, separators=(",", ":"))  # as pm2 prints it
    return _machine_free(compact, host) + "\n"


def _status_pid(out: str) -> str:
    """`pm2 status`'s pid cells (a running app's) set to PID, the table's widths kept."""
    lines = out.splitlines(keepends=True)
    header = next(i for i, line in enumerate(lines) if line.startswith("│"))
    column = [c.strip() for c in lines[header].split("│")].index("pid")
    for i in range(header + 1, len(lines)):
        cells = lines[i].split("│")
        if lines[i].startswith("│") and cells[column].strip() not in ("", "0"):
            cells[column] = f" {PID}".ljust(len(cells[column]))
            lines[i] = "│".join(cells)
    return "".join(lines)


def _machine_free(text: str, host: AupusHost) -> str:
    assert host.host is not None
    text = text.replace(str(host.host.home(host.user)), f"/home/{host.user}")
    return text.replace(str(ROOT), "/opt/selfheal")


def _capture(host: AupusHost, name: str, command: str) -> dict[str, Any]:
    """`command` run on `host` through SSM, as a fixture (ports, paths, pids scrubbed)."""
    inv = host.run(f"{docs.ENV_PORT}; {command}")  # the port `.env` says
    out, err = str(inv["StandardOutputContent"]), str(inv["StandardErrorContent"])
    if command == "pm2 jlist":
        out = _trim_jlist(out, host)
    elif command.startswith("pm2 status"):
        out = _status_pid(out)
    fixture = {
        "command": command.replace("$PORT", "3000"),
        "exitCode": inv["ResponseCode"],
        "stdout": host_checks.PORT.sub(r"\1", _machine_free(out, host)),
        "stderr": host_checks.PORT.sub(r"\1", err),
        "capturedWith": CAPTURED_WITH,
    }
    path = FIXTURES / f"{name}.json"
    if CAPTURE:
        FIXTURES.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(fixture, indent=1, ensure_ascii=False) + "\n")
    return fixture


def _shape(name: str, stdout: str) -> Any:
    """What of an output is the same on every run (pids, times, memory and cpu vary)."""
    if name.startswith("pm2_jlist"):
        [app] = json.loads(stdout)
        env = app["pm2_env"]
        return sorted(app), sorted(env), (env["status"], env["exec_mode"], env["restart_time"])
    if name.startswith("pm2_status"):
        rows = [[c.strip() for c in ANSI.sub("", line).split("│")[1:-1]]
                for line in stdout.splitlines() if line.startswith("│")]  # fmt: skip
        header, row = rows
        return header, [v for h, v in zip(header, row, strict=True) if h not in
                        ("pid", "uptime", "cpu", "mem")]  # fmt: skip
    if name.startswith("curl"):
        body, code = stdout.rstrip("\n").rsplit("\n", 1)
        data = json.loads(body)
        return code, sorted(data), data["status"], data.get("subscribedTopics")
    return stdout


def test_the_fixtures_are_what_the_hosts_print(aupus: AupusDeployment, broker: Broker) -> None:
    """tests/fixtures/host_output/aupus/: each one the real output of the runbook's command
    on a live host, checked against the hosts of this run (SELFHEAL_CAPTURE=1 rewrites
    them)."""
    vps = aupus.host("aupus-vps", "production")
    backup = aupus.host("aupus-backup", "production", instance_id="backup-emergency-20241229")
    marks = {h.name: h.mark() for h in (vps, backup)}
    aupus.publish("inv-01", TS, 12.5)
    for h in (vps, backup):
        h.wait_log(HANDLED, marks[h.name])
    [row] = aupus.rows()
    loser = backup if row.instance_id == vps.instance_id else vps
    captured = [
        _capture(vps, "pm2_jlist_online", "pm2 jlist"),
        _capture(vps, "pm2_status_online", "pm2 status aupus-api"),
        _capture(vps, "grep_mqtt_mode_production", "grep MQTT_MODE .env"),
        _capture(vps, "curl_dados_recentes_ok", f"{CURL}/health/dados-recentes"),
        _capture(vps, "curl_health_mqtt_connected", f"{CURL}/health/mqtt"),
        _capture(loser, "pm2_logs_p2002", "pm2 logs aupus-api --lines 100 --nostream | grep P2002"),
    ]
    aupus.database.age(3.0)
    captured.append(_capture(vps, "curl_dados_recentes_critical",
                             f"{CURL}/health/dados-recentes"))  # fmt: skip
    mark = backup.mark()
    broker.stop()
    backup.wait_log("ALERTA CRÍTICO", mark)
    captured.append(_capture(backup, "curl_health_mqtt_disconnected", f"{CURL}/health/mqtt"))
    backup.set_mode("development")
    captured.append(_capture(backup, "grep_mqtt_mode_development", "grep MQTT_MODE .env"))
    vps.stop()
    captured.append(_capture(vps, "pm2_status_stopped", "pm2 status aupus-api"))
    captured.append(_capture(vps, "pm2_jlist_stopped", "pm2 jlist"))

    names = [
        "pm2_jlist_online", "pm2_status_online", "grep_mqtt_mode_production",
        "curl_dados_recentes_ok", "curl_health_mqtt_connected", "pm2_logs_p2002",
        "curl_dados_recentes_critical", "curl_health_mqtt_disconnected",
        "grep_mqtt_mode_development", "pm2_status_stopped", "pm2_jlist_stopped",
    ]  # fmt: skip
    assert sorted(p.stem for p in FIXTURES.glob("*.json")) == sorted(names)
    for name, live in zip(names, captured, strict=True):
        kept = json.loads((FIXTURES / f"{name}.json").read_text())
        assert (kept["command"], kept["exitCode"]) == (live["command"], live["exitCode"]), name
        assert _shape(name, kept["stdout"]) == _shape(name, live["stdout"]), name
