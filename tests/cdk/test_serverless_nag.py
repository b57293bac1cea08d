"""cdk-nag's Serverless pack beside AWS Solutions: what it asks is done, and what it asks that
does not apply is acknowledged with the reason (issue 10, part 4).

The synth itself fails on any unacknowledged error of either pack (cdk-nag 3 is a policy
validation plugin; `tests/cdk/test_stack.py::test_cdk_nag_reports_nothing_unacknowledged`
reads the report, and `test_cdk_nag_is_really_wired_into_build_app` proves both packs run).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

from cdk_synth import Synth
from test_stack import definition_text, function_ids, tasks

#: Resources that make AWS invoke a function asynchronously (Lambda retries, then drops
#: the event unless the function has a dead-letter queue or an on-failure destination).
ASYNC_INVOKERS = frozenset({
    "AWS::Events::Rule", "AWS::Scheduler::Schedule", "AWS::IoT::TopicRule",
    "AWS::Lambda::Permission",
})  # fmt: skip
#: Resources that name a function without invoking it asynchronously (state machines call
#: `lambda:invoke` RequestResponse; policies only allow a caller).
SYNC_REFERENCES = frozenset(
    {"AWS::StepFunctions::StateMachine", "AWS::IAM::Policy", "AWS::Lambda::Url"}
)


def refs(value: Any) -> Iterator[str]:
    """Every logical id a CloudFormation value points at (Ref, GetAtt, Sub)."""
    if isinstance(value, dict):
        if "Ref" in value:
            yield value["Ref"]
        if "Fn::GetAtt" in value:
            yield value["Fn::GetAtt"][0]
        if "Fn::Sub" in value and isinstance(value["Fn::Sub"], str):
            yield from (m.split(".")[0] for m in re.findall(r"\$\{([^}]+)\}", value["Fn::Sub"]))
        for inner in value.values():
            yield from refs(inner)
    elif isinstance(value, list):
        for inner in value:
            yield from refs(inner)


def url_permission(props: dict[str, Any]) -> bool:
    """A permission a function URL needs (`lambda:InvokeFunctionUrl`, and the
    `lambda:InvokeFunction` AWS asks of URL calls since 2025)."""
    return props.get("Action") == "lambda:InvokeFunctionUrl" or bool(
        props.get("InvokedViaFunctionUrl")
    )


def referrers(synth: Synth, logical_id: str) -> set[str]:
    """The resource types that name `logical_id` in their properties (a permission for a
    function URL is the URL's: an HTTPS call, answered synchronously)."""
    return {
        "AWS::Lambda::Url" if url_permission(res.get("Properties", {})) else res["Type"]
        for res in synth.template["Resources"].values()
        if logical_id in set(refs(res.get("Properties", {})))
    }


def acknowledgements(resource: dict[str, Any]) -> dict[str, str]:
    rules = resource.get("Metadata", {}).get("cdk_nag", {}).get("rules_to_suppress", [])
    return {rule["id"]: rule["reason"] for rule in rules}


def test_state_machines_invoke_functions_synchronously(synth: Synth) -> None:
    """The acknowledged LambdaDLQ findings rest on this: no task asks for an Event call."""
    for logical_id, res in synth.resources("AWS::StepFunctions::StateMachine").items():
        text = definition_text(res["Properties"]["DefinitionString"])
        states = json.loads(text.replace('"__CFN_TOKEN__"', '"x"').replace("__CFN_TOKEN__", "x"))
        for name, task in tasks(states["States"]):
            invocation = (task.get("Parameters") or task.get("Arguments") or {}).get(
                "InvocationType", "RequestResponse"
            )
            assert invocation == "RequestResponse", f"{logical_id} {name}: {invocation}"


def test_async_invoked_functions_have_a_dead_letter_queue_and_only_they(synth: Synth) -> None:
    """A function an IoT rule, an EventBridge rule or a schedule invokes keeps what it fails
    on; every other function is only called by state machines and says so in its ack."""
    queues = synth.resources("AWS::SQS::Queue")
    async_invoked = []
    for name, logical_id in function_ids(synth).items():
        res = synth.template["Resources"][logical_id]
        kinds = referrers(synth, logical_id)
        assert kinds <= ASYNC_INVOKERS | SYNC_REFERENCES, f"{name}: unknown invoker {kinds}"
        dlq = res["Properties"].get("DeadLetterConfig", {}).get("TargetArn")
        acks = acknowledgements(res)
        if kinds & ASYNC_INVOKERS:
            async_invoked.append(name)
            assert dlq and dlq["Fn::GetAtt"][0] in queues, f"{name}: invoked by {kinds}, no DLQ"
            assert "Serverless-LambdaDLQ" not in acks, name
        else:
            assert dlq is None, f"{name}: a DLQ nothing would ever send to"
            caller = "function URL" if "AWS::Lambda::Url" in kinds else "Step Functions"
            assert caller in acks["Serverless-LambdaDLQ"], name
    # the IoT ingress and the forecast accuracy publisher, today
    assert {"edge_ingress", "retrain_accuracy"} <= set(async_invoked) < set(function_ids(synth))


def test_every_eventbridge_and_scheduler_target_has_a_dead_letter_queue(synth: Synth) -> None:
    for logical_id, res in synth.resources("AWS::Events::Rule").items():
        for target in res["Properties"]["Targets"]:
            assert target.get("DeadLetterConfig", {}).get("Arn"), f"{logical_id} {target['Id']}"
    for logical_id, res in synth.resources("AWS::Scheduler::Schedule").items():
        assert res["Properties"]["Target"].get("DeadLetterConfig", {}).get("Arn"), logical_id


def test_serverless_acknowledgements_say_why_the_rule_does_not_apply(synth: Synth) -> None:
    """Only rules that cannot apply are acknowledged: the LambdaDLQ of synchronous functions
    and the redrive policy of queues that are themselves dead-letter queues; and one decision,
    each function's runtime (the suite's Python, not the newest: tests/cdk/test_runtime.py)."""
    acked: dict[str, set[str]] = {}
    for logical_id, res in synth.template["Resources"].items():
        for rule, reason in acknowledgements(res).items():
            if rule.startswith("Serverless-"):
                assert len(reason) >= 40, f"{logical_id} {rule}: {reason!r}"
                acked.setdefault(rule, set()).add(res["Type"])
    assert acked == {
        "Serverless-LambdaDLQ": {"AWS::Lambda::Function"},
        "Serverless-LambdaLatestVersion": {"AWS::Lambda::Function"},
        "Serverless-SQSRedrivePolicy": {"AWS::SQS::Queue", "AWS::SQS::QueuePolicy"},
    }
    for logical_id, res in synth.resources("AWS::SQS::Queue").items():
        if "Serverless-SQSRedrivePolicy" in acknowledgements(res):
            assert "dead-letter" in acknowledgements(res)["Serverless-SQSRedrivePolicy"]
            assert "RedrivePolicy" not in res["Properties"], logical_id


def nag_text(value: Any) -> str:
    """A policy Resource/Action as cdk-nag spells it in an IAM5 finding id."""
    if isinstance(value, str):
        return value
    if "Fn::Sub" in value:
        return str(value["Fn::Sub"]).replace("${", "<").replace("}", ">")
    if "Fn::GetAtt" in value:
        return f"<{'.'.join(value['Fn::GetAtt'])}>"
    if "Ref" in value:
        return f"<{value['Ref']}>"
    if "Fn::Join" in value:
        sep, parts = value["Fn::Join"]
        return str(sep).join(nag_text(p) for p in parts)
    if "Fn::GetStackOutput" in value:  # a core resource read by a domain stack
        return json.dumps(value, separators=(",", ":"))
    raise AssertionError(f"cannot spell {value}")


def test_iam5_acknowledgements_sit_on_the_policy_that_has_the_wildcard(synth: Synth) -> None:
    """No IAM5 acknowledgement on a role or state machine (they hold no statement), and each
    one accepts a wildcard its own policy really grants, so none is left over. (Read in
    each stack's own template: cdk-nag names a core resource as the domain stack reads it.)"""
    for logical_id, res in (
        (f"{stack}/{lid}", res)
        for stack, template in synth.templates.items()
        for lid, res in template["Resources"].items()
    ):
        iam5 = [rule for rule in acknowledgements(res) if rule.startswith("AwsSolutions-IAM5")]
        if not iam5:
            continue
        assert res["Type"] == "AWS::IAM::Policy", f"{logical_id} ({res['Type']}): {iam5}"
        granted: set[str] = set()
        for st in res["Properties"]["PolicyDocument"]["Statement"]:
            for key, kind in (("Resource", "Resource"), ("Action", "Action")):
                values = st[key] if isinstance(st[key], list) else [st[key]]
                granted |= {f"{kind}::{nag_text(v)}" for v in values}
        for rule in iam5:
            finding = rule.removeprefix("AwsSolutions-IAM5[").removesuffix("]")
            assert "*" in finding and finding in granted, f"{logical_id}: {rule} grants nothing"
