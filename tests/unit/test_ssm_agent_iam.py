"""Run Command on the pipeline's managed hosts is authorized as in AWS: per instance the
targets resolve to, against the tags SSM holds for it."""

from __future__ import annotations

from typing import Any

from selfheal_shared.core import run_command

from local.runtime import Pipeline

SHELL = {"DocumentName": "AWS-RunShellScript", "Parameters": {"commands": ["touch ran"]}}


def test_a_role_may_command_only_the_hosts_its_tag_condition_names(pipeline: Pipeline) -> None:
    assert pipeline.iam is not None
    vps = pipeline.add_host("vps", {"selfheal:host": "aupus-vps"})
    stray = pipeline.add_host("stray", {"team": "x"})
    recover = pipeline.iam.functions["service_recover"]

    def refused(**target: Any) -> list[str]:
        assert pipeline.iam is not None
        return pipeline.iam.refused(recover, "ssm", "SendCommand", {**SHELL, **target})

    assert refused(Targets=[{"Key": "tag:selfheal:host", "Values": ["aupus-vps"]}]) == []
    assert refused(InstanceIds=[vps.instance_id]) == []
    stray_arn = f"arn:aws:ssm:us-east-1:123456789012:managed-instance/{stray.instance_id}"
    assert refused(InstanceIds=[stray.instance_id]) == [stray_arn]
    assert refused(Targets=[{"Key": "tag:team", "Values": ["x"]}]) == [stray_arn]


def test_a_functions_command_really_runs_on_the_host_it_may_command(pipeline: Pipeline) -> None:
    assert pipeline.iam is not None
    vps = pipeline.add_host("vps", {"selfheal:host": "aupus-vps"})
    with pipeline.lambdas.acting_as("service_recover"):
        answer = run_command.run("selfheal:host", "aupus-vps", ["touch ran", "echo ok"], "k", "t")
    assert answer["status"] == "Success" and answer["output"] == "ok"
    assert list(vps.root.glob("orchestration/*/ran")), "it ran in the command's own folder"
    info = pipeline.client("ssm").describe_instance_information()["InstanceInformationList"]
    assert [i["InstanceId"] for i in info] == [vps.instance_id]
