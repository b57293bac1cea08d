"""Runbook 004's broker and database checks with the backend's own credentials, as the VPS
holds them (`.env`), without putting a secret on a command line (where `ps` shows it to
every user of the host): the broker's login goes to `mosquitto_sub` in an options file of
the check's own, the database's password to `psql` in PGPASSWORD. Each program on the host
is wrapped to record the arguments it was given, then runs for real."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from selfheal_shared.services import check_document, host_checks, service_spec

from local.broker import Mosquitto, _free_port
from local.runtime import Pipeline
from local.ssm_agent import Host
from local.worlds.services.pm2_apps import wait_port
from tests.helpers import hosts_only_pipeline

USER, PASSWORD = "aupus-backend", "s3cr%t:w0rd"


@pytest.fixture(scope="module")
def pipeline() -> Iterator[Pipeline]:
    yield from hosts_only_pipeline()


@pytest.fixture(scope="module")
def broker() -> Iterator[int]:
    """A mosquitto that refuses anonymous clients: one login, made with mosquitto_passwd."""
    with tempfile.TemporaryDirectory(prefix="selfheal-mqtt-auth-") as tmp:
        port = _free_port()
        server = Mosquitto(shutil.which("mosquitto") or "/usr/sbin/mosquitto", port, Path(tmp))
        passwords = Path(tmp) / "passwords"
        subprocess.run(["mosquitto_passwd", "-b", "-c", str(passwords), USER, PASSWORD], check=True)
        conf = server.conf.read_text().replace("allow_anonymous true", "allow_anonymous false")
        server.conf.write_text(conf + f"password_file {passwords}\n")
        server.start()
        try:
            yield port
        finally:
            server.stop()


def _recording(host: Host, program: str) -> Path:
    """`program` on the host's PATH records its arguments (and whether PGPASSWORD is set),
    then runs the real one."""
    log = host.root / f"{program}.argv"
    real = shutil.which(program)
    assert real is not None, f"{program} is not installed"
    host.add_command(
        program,
        f'#!/bin/sh\nprintf "%s pgpassword=%s\\n" "$*" "${{PGPASSWORD:+set}}" >> "{log}"\n'
        f'exec "{real}" "$@"\n',
    )
    return log


def _site(pipeline: Pipeline, name: str, dotenv: dict[str, str]) -> Host:
    spec = service_spec.get("mqtt-broker")
    assert spec.ssm is not None
    host = pipeline.add_host(name, {spec.ssm.tagKey: spec.ssm.tagValue})
    app = host.add_user(spec.ssm.runAs) / spec.ssm.directory
    app.mkdir()
    (app / ".env").write_text("".join(f"{k}={v}\n" for k, v in dotenv.items()))
    return host


def _check(pipeline: Pipeline, host: Host, service: str) -> host_checks.Reading:
    spec = service_spec.get(service)
    assert spec.check is not None
    ssm = pipeline.client("ssm")
    command = ssm.send_command(
        DocumentName=check_document.NAME,
        InstanceIds=[host.instance_id],
        Parameters={"service": [service]},
    )["Command"]
    got = ssm.get_command_invocation(CommandId=command["CommandId"], InstanceId=host.instance_id)
    return host_checks.READERS[spec.check.reads](
        got["ResponseCode"], got["StandardOutputContent"], got["StandardErrorContent"]
    )


def test_the_broker_check_logs_in_with_the_backends_credentials_off_the_command_line(
    pipeline: Pipeline, broker: int
) -> None:
    env = {"MQTT_HOST": "127.0.0.1", "MQTT_PORT": str(broker), "MQTT_USERNAME": USER}
    host = _site(pipeline, "vps-auth", {**env, "MQTT_PASSWORD": PASSWORD})
    argv = _recording(host, "mosquitto_sub")
    reading = _check(pipeline, host, "mqtt-broker")
    assert reading.up, reading.detail
    assert PASSWORD not in argv.read_text() and USER not in argv.read_text()

    wrong = _site(pipeline, "vps-wrong", {**env, "MQTT_PASSWORD": "not-it"})
    refused = _check(pipeline, wrong, "mqtt-broker")
    assert not refused.up and "not authori" in refused.detail.lower(), refused.detail
    anonymous = _site(pipeline, "vps-anon", {"MQTT_HOST": "127.0.0.1", "MQTT_PORT": str(broker)})
    assert not _check(pipeline, anonymous, "mqtt-broker").up


def test_the_database_check_gives_psql_the_password_in_its_environment_only(
    pipeline: Pipeline,
) -> None:
    """The backend's Prisma-style DATABASE_URL, its password URL-encoded: psql is given the
    address on its command line and the decoded password in PGPASSWORD, never the URL."""
    url = "postgresql://aupus_vps:s3cr%25t%3Aw0rd@127.0.0.1:1/aupus?schema=public"
    host = _site(pipeline, "vps-db", {"DATABASE_URL": f'"{url}"'})
    argv = _recording(host, "psql")
    host.add_command(
        "pg_env",
        '#!/bin/sh\nprintf "%s|%s|%s|%s|%s\\n" "$PGHOST" "$PGPORT" "$PGUSER" "$PGDATABASE" '
        '"$PGPASSWORD"\n',
    )
    reading = _check(pipeline, host, "aupus-db")
    assert not reading.up  # nothing listens on port 1: refused, said as such
    recorded = argv.read_text()
    assert "s3cr" not in recorded and "pgpassword=set" in recorded, recorded
    spec = service_spec.get("aupus-db")
    assert spec.check is not None and spec.ssm is not None
    # the same parsing, its result shown by a command of this host's own
    probe = spec.check.command.replace("PGCONNECT_TIMEOUT=5 psql -X -qAt -c 'SELECT 1'", "pg_env")
    ssm = pipeline.client("ssm")
    command = ssm.send_command(
        DocumentName="AWS-RunShellScript",
        InstanceIds=[host.instance_id],
        Parameters={"commands": spec.ssm.shell([probe])},
    )["Command"]
    out = ssm.get_command_invocation(CommandId=command["CommandId"], InstanceId=host.instance_id)[
        "StandardOutputContent"
    ]
    assert out == "127.0.0.1|1|aupus_vps|aupus|s3cr%t:w0rd\n"


@pytest.fixture
def redis_with_password() -> Iterator[int]:
    """Debian's redis-server that wants a password (`requirepass`), owned by the test."""
    port = _free_port()
    server = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
         "--appendonly", "no", "--requirepass", PASSWORD],
        stdout=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        wait_port(port, "redis-server")
        yield port
    finally:
        server.kill()
        server.wait()


def test_the_redis_check_gives_redis_cli_the_password_in_its_environment_only(
    pipeline: Pipeline, redis_with_password: int
) -> None:
    """Runbook 002's `redis-cli ping` (localhost, the published port) with the compose
    project's REDIS_PORT and REDIS_PASSWORD: the password goes in REDISCLI_AUTH, the
    address on the command line."""
    spec = service_spec.get("redis")
    assert spec.ssm is not None
    port = f"REDIS_PORT={redis_with_password}\n"
    host = pipeline.add_host("equivalence-auth", {spec.ssm.tagKey: spec.ssm.tagValue})
    app = host.add_user(spec.ssm.runAs) / spec.ssm.directory
    app.mkdir()
    (app / ".env").write_text(f"{port}REDIS_PASSWORD='{PASSWORD}'\r\n")  # quoted, CRLF
    argv = _recording(host, "redis-cli")
    reading = _check(pipeline, host, "redis")
    assert reading.up, reading.detail
    assert PASSWORD not in argv.read_text() and str(redis_with_password) in argv.read_text()
    (app / ".env").write_text(f"{port}REDIS_PASSWORD=not-it\n")
    assert not _check(pipeline, host, "redis").up
