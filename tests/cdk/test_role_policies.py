"""The statements the local runtime enforces are the ones `cdk synth` writes."""

from __future__ import annotations

import json
from typing import Any

from cdk_synth import ROOT, Synth
from selfheal_cdk import role_policies

POLICIES = ROOT / "local" / "role_policies.json"


def test_the_enforced_policies_are_what_a_fresh_synth_gives(synth: Synth) -> None:
    fresh = role_policies.export(synth.app, synth.templates)
    assert json.loads(POLICIES.read_text()) == fresh, (
        "local/role_policies.json is not what the CDK synthesizes: run `make policies`"
    )


def test_every_function_and_state_machine_has_its_own_role(synth: Synth) -> None:
    exported = role_policies.export(synth.app, synth.templates)
    assert set(exported["functions"]) == set(synth.spec.functions)
    assert set(exported["stateMachines"]) == set(synth.spec.workflows)
    roles = {role_policies.logical_id(fn.role) for fn in synth.functions.values()}  # type: ignore[arg-type]
    assert len(roles) == len(synth.functions)


def test_references_to_our_resources_become_placeholders(synth: Synth) -> None:
    """Every table, topic, bucket, function and state machine a grant names is written as
    the local runtime can bind it; only what no handler calls (log groups, queues) is not."""
    exported = role_policies.export(synth.app, synth.templates)
    unbound = {
        resource.removeprefix("${Resource:").rstrip("}").rsplit(".", 1)[0]
        for kind in exported.values()
        for body in kind.values()
        for statement in body["statements"]
        for resource in statement["Resource"]
        if resource.startswith("${Resource:")
    }
    types = {synth.template["Resources"][lid]["Type"] for lid in unbound}
    assert unbound
    assert types <= {"AWS::Logs::LogGroup", "AWS::SQS::Queue"}


def _role_allows(template: dict[str, Any], role: Any, action: str, resource: Any) -> bool:
    """Whether a policy attached to `role` (a GetAtt of its Arn) allows `action` on the
    resource written as `resource` (the same intrinsic the target names)."""
    role_id = {"Ref": role["Fn::GetAtt"][0]}
    for body in template["Resources"].values():
        if body["Type"] != "AWS::IAM::Policy" or role_id not in body["Properties"]["Roles"]:
            continue
        for statement in body["Properties"]["PolicyDocument"]["Statement"]:
            actions = statement["Action"]
            actions = [actions] if isinstance(actions, str) else actions
            resources = statement["Resource"]
            resources = resources if isinstance(resources, list) else [resources]
            if statement["Effect"] == "Allow" and action in actions and resource in resources:
                return True
    return False


def test_every_rule_and_schedule_may_start_the_workflow_it_targets(synth: Synth) -> None:
    """EventBridge and Scheduler start executions with the target's role: a rule whose
    role lacks states:StartExecution on its state machine would drop every event."""
    machines = {synth.logical_id(m): name for name, m in synth.state_machines.items()}
    checked: set[str] = set()
    for lid, body in synth.resources("AWS::Events::Rule").items():
        for target in body["Properties"].get("Targets", []):
            arn = target["Arn"]
            if isinstance(arn, dict) and arn.get("Ref") in machines:
                assert "RoleArn" in target, f"{lid}: no role to start {arn['Ref']}"
                assert _role_allows(synth.template, target["RoleArn"], "states:StartExecution", arn)
                checked.add(machines[arn["Ref"]])
    for lid, body in synth.resources("AWS::Scheduler::Schedule").items():
        target = body["Properties"]["Target"]
        if target["Arn"].get("Ref") in machines:
            action = "states:StartExecution"
            checked.add(machines[target["Arn"]["Ref"]])
        else:  # the forecast accuracy publisher: a function the schedule invokes
            assert synth.template["Resources"][target["Arn"]["Fn::GetAtt"][0]]["Type"] == (
                "AWS::Lambda::Function"
            ), f"{lid}: targets neither a workflow nor a function"
            action = "lambda:InvokeFunction"
        assert _role_allows(synth.template, target["RoleArn"], action, target["Arn"]), lid
    routed = {r.workflow for r in synth.spec.rules.values()} | {
        s.workflow for s in synth.spec.schedules.values()
    }
    assert checked == routed
