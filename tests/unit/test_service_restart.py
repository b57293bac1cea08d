"""Restarts go through what AWS offers: SSM Run Command on a host picked by tag (the
service file's own command), ECS UpdateService with a new deployment for a container."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws
from selfheal_shared.core import clients
from selfheal_shared.services import service_ops, service_spec

from local.moto_extensions import Extensions


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[Extensions]:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws(), Extensions(region="us-east-1").installed() as ext:
        clients.reset()
        yield ext
    clients.reset()


def test_ssm_restart_sends_the_runbook_command_to_the_tagged_host(aws: Extensions) -> None:
    sent: list[tuple[Any, Any]] = []

    def agent(targets: list[dict[str, Any]], commands: list[str]) -> dict[str, Any]:
        sent.append((targets, commands))
        return {"Status": "Success", "InstanceId": "mi-0001", "Output": "restarted"}

    aws.ssm_agents = [agent]
    answer = service_ops.restart(service_spec.get("aupus-ingestion"), "inc-1", "sh-test-1")

    # the runbook's command, typed as the runbook types it: as aupus, in the backend's folder
    [(targets, commands)] = sent
    assert targets == [{"Key": "tag:selfheal:host", "Values": ["aupus-vps"]}]
    assert commands[0].startswith("runuser -l aupus -c 'cd aupus-service-api 2>/dev/null ||")
    assert commands[-1] == "pm2 restart aupus-api'"
    assert answer["status"] == "Success" and answer["instances"] == ["mi-0001"]


def test_a_failed_command_is_reported_as_failed(aws: Extensions) -> None:
    aws.ssm_agents = [lambda t, c: {"Status": "Failed", "InstanceId": "mi-1", "Output": "exit 1"}]
    answer = service_ops.restart(service_spec.get("inference"), "inc-2", "sh-test-2")
    assert answer["status"] == "Failed" and answer["output"] == "exit 1"


def test_a_container_service_gets_a_new_ecs_deployment(aws: Extensions) -> None:
    ecs = boto3.client("ecs", region_name="us-east-1")
    ecs.create_cluster(clusterName="equivalence")
    task = ecs.register_task_definition(
        family="web", containerDefinitions=[{"name": "web", "image": "web:1", "memory": 256}]
    )["taskDefinition"]["taskDefinitionArn"]
    ecs.create_service(
        cluster="equivalence", serviceName="web", taskDefinition=task, desiredCount=1
    )
    spec = service_spec.get("equivalence-api").model_copy(
        update={"ssm": None, "ecs": service_spec.EcsTarget(cluster="equivalence", service="web")}
    )

    answer = service_ops.restart(spec, "inc-3", "sh-test-3")

    assert answer["via"] == "ecs:UpdateService" and answer["status"] == "Success"
    assert answer["output"].startswith("new deployment ")
