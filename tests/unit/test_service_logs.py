"""A service's log excerpt (runbook 004 "pm2 logs aupus-api --lines 50"; 002 "logs --tail
200"), read from CloudWatch Logs as the CloudWatch agent ships the host's log files: only
the incident's lines (from a bounded window before it began, never the group's oldest),
every page CloudWatch returns followed within a bound, redacted before it leaves."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import boto3
import pytest
from moto import mock_aws
from selfheal_shared.core import clients, clock
from selfheal_shared.services import service_ops, service_spec

#: The pinned clock, near the real one: CloudWatch Logs (and moto) refuse events older than
#: 14 days or more than 2 hours ahead.
NOW = datetime.now(UTC).replace(second=0, microsecond=0)  # real-time: moto's log-age check
BEGAN = NOW - timedelta(minutes=20)
SPEC = service_spec.get("aupus-ingestion")


@pytest.fixture
def logs(monkeypatch: pytest.MonkeyPatch) -> Iterator[object]:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setattr(clock, "_source", lambda: NOW)
    with mock_aws():
        clients.reset()
        c = boto3.client("logs", region_name="us-east-1")
        c.create_log_group(logGroupName=SPEC.logGroup)
        c.create_log_stream(logGroupName=SPEC.logGroup, logStreamName="mi-0001")
        yield c
    clients.reset()


def put(c: object, lines: list[tuple[datetime, str]]) -> None:
    c.put_log_events(  # type: ignore[attr-defined]
        logGroupName=SPEC.logGroup,
        logStreamName="mi-0001",
        logEvents=[{"timestamp": int(at.timestamp() * 1000), "message": m} for at, m in lines],
    )


def test_the_excerpt_is_the_incidents_not_the_groups_oldest_lines(logs: object) -> None:
    """A log group holds days of lines; FilterLogEvents without a start time answers the
    oldest first. Read: from `LOG_LOOKBACK` before the incident began to now."""
    old = NOW - timedelta(days=2)
    put(logs, [(old + timedelta(seconds=n), f"old line {n}") for n in range(60)])
    window = BEGAN - service_ops.LOG_LOOKBACK
    put(
        logs,
        [
            (window - timedelta(seconds=1), "just before the window"),
            (window, "🚀 [MQTT] MODO PRODUÇÃO - Instância: production-server"),
            (BEGAN + timedelta(minutes=1), "🔴 [MQTT] ALERTA CRÍTICO: Broker OFFLINE!"),
        ],
    )

    lines = service_ops.read_logs(SPEC, BEGAN)
    assert lines == [
        "🚀 [MQTT] MODO PRODUÇÃO - Instância: production-server",
        "🔴 [MQTT] ALERTA CRÍTICO: Broker OFFLINE!",
    ]


def test_every_page_is_followed_and_the_lines_stay_redacted(
    logs: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    """CloudWatch answers in pages (nextToken): the newest lines are on the last one."""
    monkeypatch.setattr(service_ops, "LOG_PAGE_EVENTS", 4)
    lines = [(BEGAN + timedelta(seconds=n), f"💾 [MQTT] Buffer flush {n}") for n in range(10)]
    lines.append((BEGAN + timedelta(seconds=30), "❌ [MQTT] ERRO: login ops@aupus.com.br"))
    put(logs, lines)

    got = service_ops.read_logs(SPEC, BEGAN)
    assert len(got) == 11
    assert got[-1] == "❌ [MQTT] ERRO: login [email]"
    assert service_ops.recent_logs(SPEC, BEGAN)[-1] == got[-1]


def test_a_read_cut_at_its_bound_says_which_lines_were_not_read(
    logs: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(service_ops, "LOG_PAGE_EVENTS", 3)
    monkeypatch.setattr(service_ops, "LOG_MAX_PAGES", 2)
    put(logs, [(BEGAN + timedelta(seconds=n), f"line {n}") for n in range(10)])

    got = service_ops.read_logs(SPEC, BEGAN)
    assert got[:-1] == [f"line {n}" for n in range(6)]
    assert got[-1] == (
        "(log read stopped after 6 lines in 2 pages; lines after "
        f"{(BEGAN + timedelta(seconds=5)).isoformat()} not read)"
    )


def test_a_missing_log_group_is_said(logs: object) -> None:
    other = SPEC.model_copy(update={"logGroup": "/selfheal/services/none"})
    assert service_ops.read_logs(other, BEGAN) == ["(log group /selfheal/services/none not found)"]
