"""What importing a handler must not do (cold start, benchmarks/cold_init.py measures it):
import the X-Ray SDK while tracing is off, build a boto3 client, or import powertools'
parser package unless the handler parses alarm events."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

import pytest
from selfheal_shared.core import clients
from selfheal_shared.core.idempotency import LazyDynamoDBPersistenceLayer
from selfheal_shared.core.observability import LazyTracer

from benchmarks.cold_init import LAYER, function_folders
from local.runtime import Pipeline

# Loads every handler the way Lambda does (its folder and the layer on sys.path, module
# `app`), one after another in one fresh interpreter, and reports what got imported.
PROBE = """
import importlib, json, sys
import botocore.session
created = []
create_client = botocore.session.Session.create_client
def counted(self, service_name, *args, **kwargs):
    created.append(service_name)
    return create_client(self, service_name, *args, **kwargs)
botocore.session.Session.create_client = counted
report = {}
for folder in sys.argv[1:]:
    sys.path.insert(0, folder)
    sys.modules.pop("app", None)
    importlib.import_module("app")
    sys.path.remove(folder)
    report[folder.rsplit("/", 1)[-1]] = {
        "xray": "aws_xray_sdk" in sys.modules,
        "parser": "aws_lambda_powertools.utilities.parser" in sys.modules,
        "clients": list(created),
    }
print(json.dumps(report))
"""
# The handlers that parse a CloudWatch alarm event with powertools' EventBridge model.
PARSE_ALARMS = {
    "rollback_resolve",
    "freeze_request",
    "partial_data_request",
    "retrain_plan",
    "ingestion_failover_survey",
    "mapper_degraded_open",
    "service_open",
    "critical_open",
    "influx_open",
}


@pytest.fixture(scope="module")
def imported() -> dict[str, dict[str, Any]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("POWERTOOLS_")}
    env |= {"PYTHONPATH": str(LAYER), "POWERTOOLS_TRACE_DISABLED": "true"}
    env.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    # Alarm parsers last: once one has imported the parser, the rest would see it too.
    folders = function_folders()
    order = sorted(folders, key=lambda f: (f in PARSE_ALARMS, f))
    done = subprocess.run(
        [sys.executable, "-c", PROBE, *(str(folders[f]) for f in order)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    report: dict[str, dict[str, Any]] = json.loads(done.stdout)
    return report


def test_no_handler_imports_the_xray_sdk_with_tracing_off(
    imported: dict[str, dict[str, Any]],
) -> None:
    assert [f for f, r in imported.items() if r["xray"]] == []


def test_no_handler_builds_a_client_at_import(imported: dict[str, dict[str, Any]]) -> None:
    assert {f: r["clients"] for f, r in imported.items() if r["clients"]} == {}


def test_only_alarm_parsers_import_the_powertools_parser(
    imported: dict[str, dict[str, Any]],
) -> None:
    first_parser = next(f for f, r in imported.items() if r["parser"])
    assert first_parser in PARSE_ALARMS


@pytest.mark.parametrize(
    ("env", "enabled"),
    [
        ({"POWERTOOLS_TRACE_DISABLED": "true", "LAMBDA_TASK_ROOT": "/var/task"}, False),
        ({"LAMBDA_TASK_ROOT": "/var/task"}, True),
        ({}, False),  # outside Lambda, as powertools' own Tracer decides
    ],
)
def test_tracer_is_on_exactly_when_powertools_would_trace(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], enabled: bool
) -> None:
    for key in ("POWERTOOLS_TRACE_DISABLED", "LAMBDA_TASK_ROOT", "AWS_SAM_LOCAL"):
        monkeypatch.delenv(key, raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)

    assert LazyTracer.enabled() is enabled


def test_tracing_off_leaves_the_handler_as_it_is(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", "true")

    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        return event

    assert LazyTracer("test").capture_lambda_handler(handler) is handler


def test_idempotency_layer_uses_the_shared_client(pipeline: Pipeline) -> None:
    layer = LazyDynamoDBPersistenceLayer(table_name=pipeline.tables["idempotency"])

    assert layer.client is clients.client("dynamodb")
