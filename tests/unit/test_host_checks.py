"""The runbooks' check commands read from their real output (fixtures captured from curl,
redis-cli, pg_isready, rq and the inference host's systemctl on Debian 12:
tests/fixtures/host_output/), and the read-only
check document built from the service descriptions."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from selfheal_shared.services import check_document, host_checks, service_spec

from local import aws_validation, ssm_agent

OUTPUT = Path(__file__).resolve().parents[1] / "fixtures" / "host_output"


def read(kind: str, fixture: str) -> host_checks.Reading:
    f: dict[str, Any] = json.loads((OUTPUT / f"{fixture}.json").read_text())
    return host_checks.READERS[kind](f["exitCode"], f["stdout"], f["stderr"])


@pytest.mark.parametrize(
    ("kind", "fixture", "up", "detail"),
    [
        ("http_health", "curl_health_ok", True, "/health answered 200"),
        ("http_health", "curl_health_refused", False,
         "/health: not answering (connection refused)"),
        ("http_health", "curl_health_degraded", False, "/health answered 503 postgres: ok, "
         "redis: error: Error 111 connecting to 127.0.0.1. Connection refused."),
        ("redis_ping", "redis_ping_ok", True, "redis-cli ping: PONG"),
        ("redis_ping", "redis_ping_refused", False,
         "redis-cli ping: Could not connect to Redis at 127.0.0.1: Connection refused"),
        ("pg_isready", "pg_isready_ok", True,
         "pg_isready: 127.0.0.1 - accepting connections"),
        ("pg_isready", "pg_isready_down", False,
         "pg_isready: 127.0.0.1 - no response (no response)"),
        ("rq_backlog", "rq_info_empty", True, "backlog drained: rq info says 0 jobs queued"),
        ("rq_backlog", "rq_info_queues", False,
         "backlog not draining: 7 jobs still queued after 1 readings (rq info)"),
        ("rq_backlog", "rq_info_busy", False,
         "backlog not draining: 7 jobs still queued after 1 readings (rq info)"),
        ("rq_backlog", "rq_info_refused", False,
         "rq info: Error 111 connecting to 127.0.0.1. Connection refused."),
        ("systemd_health", "systemd_inference_ok", True,
         "systemctl: active (running); /health answered 200"),
        ("systemd_health", "systemd_inference_hung", False,
         "systemctl: active (running); /health: no answer in time (hung)"),
        ("systemd_health", "systemd_inference_killed", False,
         "systemctl status: Active: failed (Result: signal)"),
        ("systemd_health", "systemd_inference_failed_to_start", False,
         "systemctl status: Active: failed (Result: exit-code, status=1)"),
        ("compose_health", "compose_web_ok", True,
         "docker compose ps: web Up; /health answered 200"),
        ("compose_health", "compose_web_degraded", False, "docker compose ps: web Up; /health "
         "answered 503 postgres: ok, redis: error: Error 111 connecting to 127.0.0.1. "
         "Connection refused."),
        ("aupus_health", "aupus_checks/aupus_ok", True,
         "pm2: aupus-api online; hoursSinceLastData under 0.1: data arriving"),
        ("aupus_health", "aupus_checks/aupus_stopped", False, "pm2: aupus-api stopped"),
        ("aupus_health", "aupus_checks/aupus_development", False, "pm2: aupus-api online; "
         "MQTT_MODE=development in .env: readings NOT saved (must be production)"),
        ("aupus_health", "aupus_checks/aupus_stale", False, "pm2: aupus-api online; "
         "hoursSinceLastData 2.5 (>= 0.1); 0 MQTT topics subscribed"),
        ("mqtt_connect", "aupus_checks/mqtt_connect_ok", True,
         "MQTT connect: the broker accepted the connection and the subscription"),
        ("mqtt_connect", "aupus_checks/mqtt_connect_refused", False,
         "MQTT connect: Error: Connection refused"),
        ("psql_select", "aupus_checks/psql_select_ok", True,
         "psql: SELECT 1 answered (the backend's DATABASE_URL)"),
        ("psql_select", "aupus_checks/psql_select_refused", False,
         "psql: database is not currently accepting connections"),
        ("aupus_equipment", "aupus_checks/aupus_report", True, "1 of 4 equipment silent"),
        ("compose_health", "compose_web_hung", False,
         "docker compose ps: web Up; /health: no answer in time (hung)"),
        ("compose_health", "compose_web_exited", False, "docker compose ps: web Exited (0)"),
    ],
)  # fmt: skip
def test_each_tools_real_output_is_read(kind: str, fixture: str, up: bool, detail: str) -> None:
    reading = read(kind, fixture)
    assert (reading.up, reading.detail) == (up, detail)


def test_a_queue_going_down_between_readings_is_draining() -> None:
    out = "default |███ 7\n1 queues, 7 jobs total\ndefault |█ 2\n1 queues, 2 jobs total\n"
    reading = host_checks.rq_backlog(0, out, "")
    assert reading.up and reading.data == {"depth": 2, "readings": [7, 2]}


def test_curl_timing_out_is_a_hung_service() -> None:
    reading = host_checks.http_health(28, "\n000\n", "curl: (28) Operation timed out\n")
    assert (reading.up, reading.detail) == (False, "/health: no answer in time (hung)")


def test_the_check_document_runs_each_described_check_and_nothing_else() -> None:
    content = check_document.content()
    checked = check_document.checked()
    assert sorted(checked) == [
        "aupus-db", "aupus-ingestion", "equivalence-api", "equivalence-worker", "inference",
        "mqtt-broker", "postgres", "redis",
    ]  # fmt: skip
    assert content["parameters"]["service"]["allowedValues"] == list(checked)
    assert content["parameters"]["phase"]["allowedValues"] == ["check", "verify", "report"]
    script, timeout = ssm_agent.rendered(content, {"service": ["redis"]})
    assert 'case "redis/check" in' in script and timeout == 120
    redis = service_spec.get("redis")
    assert redis.check is not None and redis.ssm is not None
    # the description's own command, whole, run as the runbook's user in its directory
    first, *rest = redis.ssm.shell([redis.check.command])
    lines = script.splitlines()
    at = lines.index("  redis/check)") + 1
    assert lines[at : at + 1 + len(rest)] == [f"    {first}", *rest]
    assert first.startswith("runuser -l deploy -c")
    with pytest.raises(aws_validation.AwsError, match="value is not allowed"):
        aws_validation.check_parameters(content, {"service": ["redis; reboot"]})
    with pytest.raises(aws_validation.AwsError, match="value is not allowed"):
        aws_validation.check_parameters(content, {"service": ["redis"], "phase": ["restart"]})
    with pytest.raises(aws_validation.AwsError):
        aws_validation.check_parameters(
            content, {"service": ["aupus-ingestion"], "expect": ["inv-01'; DROP TABLE x; --"]}
        )


def test_an_ingestion_has_a_verify_and_a_report_phase_the_others_only_check() -> None:
    script, _ = ssm_agent.rendered(check_document.content(), {"service": ["aupus-ingestion"]})
    assert "  aupus-ingestion/verify)" in script and "  aupus-ingestion/report)" in script
    assert "  redis/verify)" in script and "  redis/report)" not in script
    verify = service_spec.get("aupus-ingestion").check
    assert verify is not None and verify.verifyCommand is not None
    assert verify.verifyCommand.endswith(verify.command)  # the same reading, after the wait


def test_compose_v2_rows_are_read_by_the_headers_columns() -> None:
    """Docker Compose v2's own table: cells with spaces (COMMAND, CREATED, STATUS), a running
    container listed without `-a`, none when it is not running."""
    out = (
        "NAME                IMAGE                    COMMAND                  SERVICE   "
        "CREATED         STATUS                   PORTS\n"
        'equivalence-web-1   equivalence-engine-web   "uvicorn app.main:ap…"   web       '
        "2 hours ago     Up About an hour         0.0.0.0:8000->8000/tcp\n"
        '--- curl /health\n{"status": "ok"}\n200\n'
    )
    assert host_checks.compose_health(0, out, "").detail.startswith("docker compose ps: web Up;")
    restarting = out.replace("Up About an hour        ", "Restarting (1) 5 seconds ago")
    reading = host_checks.compose_health(0, restarting, "")
    assert (reading.up, reading.detail) == (False, "docker compose ps: web Restarting (1)")
    header_only = out.split("\n", 1)[0] + "\n--- curl /health\n\n000\n"
    none = host_checks.compose_health(7, header_only, "curl: (7) Failed to connect\n")
    assert (none.up, none.detail) == (
        False,
        "docker compose ps: no container (not created, or removed)",
    )


def test_the_compose_table_ends_where_the_next_commands_output_starts() -> None:
    """`docker compose ps -a worker && rq info`: rq's worker line is not a container row,
    whatever falls under the table's columns."""
    out = (
        "NAME                   IMAGE                COMMAND               SERVICE   CREATED"
        "        STATUS        PORTS\n"
        'equivalence-worker-1   equivalence-worker   "rq worker default"   worker    1 second '
        "ago   Up 1 second\n"
        "0 queues, 0 jobs total\n\n"
        "35952918128743dca9d023192d78235d (vm 127.0.0.1:38462 17939): idle default. jobs: 0 "
        "finished, 0 failed\n1 workers, 0 queues\n"
    )
    assert host_checks.compose_rows(out) == [("worker", "Up")]
    assert host_checks.rq_backlog(0, out, "").up
