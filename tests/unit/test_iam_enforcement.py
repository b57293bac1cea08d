"""The local IAM check: what a role's statements allow, which action and resource a call
needs, and the error a refused call gets (AWS's code, raised by botocore as AWS's would be)."""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws
from selfheal_shared.core import clients, config

from local.iam_enforcement import RECORD_ENV, Enforcer, Observed
from local.iam_policy import Policy, Request
from local.iam_requests import Where, requests

WHERE = Where("aws", "us-east-1", "123456789012")
NO_TAGS: Any = lambda _arn: {}  # noqa: E731


def policy(*statements: dict[str, Any], names: dict[str, str] | None = None) -> Policy:
    return Policy.from_json(statements, names or {})


def allow(actions: list[str], resources: list[str], **condition: Any) -> dict[str, Any]:
    return {
        "Effect": "Allow",
        "Action": actions,
        "Resource": resources,
        **({"Condition": condition} if condition else {}),
    }


TABLE = "arn:aws:dynamodb:us-east-1:123456789012:table/selfheal-table-guard-state"


def test_actions_match_case_insensitively_with_wildcards_resources_exactly() -> None:
    p = policy(allow(["dynamodb:Get*", "kms:GenerateDataKey*"], [TABLE]))
    assert p.allows(Request("dynamodb:GetItem", TABLE), NO_TAGS)
    assert p.allows(Request("DynamoDB:getitem", TABLE), NO_TAGS)
    assert not p.allows(Request("dynamodb:PutItem", TABLE), NO_TAGS)
    assert not p.allows(Request("dynamodb:GetItem", TABLE.upper()), NO_TAGS)
    assert not p.allows(Request("dynamodb:GetItem", TABLE + "-other"), NO_TAGS)
    assert not p.allows(Request("dynamodb:GetItem", "*"), NO_TAGS)


def test_placeholders_resolve_to_local_names_and_unknown_ones_match_nothing() -> None:
    p = policy(
        allow(["sns:Publish"], ["arn:${AWS::Partition}:sns:us-east-1:123456789012:${Topic:l1}"]),
        allow(["sqs:SendMessage"], ["${Resource:Selfheal/DeadLetters.Arn}"]),
        names={"AWS::Partition": "aws", "Topic:l1": "selfheal-topic-l1"},
    )
    topic = "arn:aws:sns:us-east-1:123456789012:selfheal-topic-l1"
    assert p.allows(Request("sns:Publish", topic), NO_TAGS)
    assert not p.allows(Request("sns:Publish", topic.replace("l1", "ops")), NO_TAGS)
    assert not p.allows(Request("sqs:SendMessage", "arn:aws:sqs:us-east-1:1:q"), NO_TAGS)


def test_an_explicit_deny_wins_over_an_allow() -> None:
    p = policy(
        allow(["s3:*"], ["arn:aws:s3:::data/*"]),
        {"Effect": "Deny", "Action": ["s3:DeleteObject"], "Resource": ["*"]},
    )
    assert p.allows(Request("s3:PutObject", "arn:aws:s3:::data/a"), NO_TAGS)
    assert not p.allows(Request("s3:DeleteObject", "arn:aws:s3:::data/a"), NO_TAGS)


def test_resource_tag_conditions_read_the_tags_of_the_resource_named() -> None:
    fn = "arn:aws:lambda:us-east-1:123456789012:function:orders"
    p = policy(
        allow(
            ["lambda:UpdateAlias"], ["*"], StringEquals={"aws:ResourceTag/selfheal:managed": "true"}
        )
    )
    tags = {fn: {"selfheal:managed": "true"}}
    assert p.allows(Request("lambda:UpdateAlias", fn), lambda arn: tags.get(arn, {}))
    assert not p.allows(Request("lambda:UpdateAlias", fn + "2"), lambda arn: tags.get(arn, {}))


def test_request_conditions_and_unknown_operators() -> None:
    put = allow(["cloudwatch:PutMetricData"], ["*"], StringEquals={"cloudwatch:namespace": "A"})
    p = policy(put)
    [ok] = requests("monitoring", "PutMetricData", {"Namespace": "A"}, WHERE)
    [other] = requests("monitoring", "PutMetricData", {"Namespace": "B"}, WHERE)
    assert p.allows(ok, NO_TAGS) and not p.allows(other, NO_TAGS)
    odd = policy(allow(["s3:GetObject"], ["*"], DateGreaterThan={"aws:CurrentTime": "2020"}))
    assert not odd.allows(Request("s3:GetObject", "arn:aws:s3:::b/k"), NO_TAGS)


@pytest.mark.parametrize(
    ("service", "operation", "params", "expected"),
    [
        ("lambda", "Invoke", {"FunctionName": "f", "Qualifier": "live"},
         [("lambda:InvokeFunction", "arn:aws:lambda:us-east-1:123456789012:function:f:live")]),
        ("lambda", "UpdateAlias",
         {"FunctionName": "arn:aws:lambda:us-east-1:1:function:f", "Name": "live"},
         [("lambda:UpdateAlias", "arn:aws:lambda:us-east-1:123456789012:function:f")]),
        ("iotdata", "Publish", {"topic": "lifo4/e1/commands/restart"},
         [("iot:Publish", "arn:aws:iot:us-east-1:123456789012:topic/lifo4/e1/commands/restart")]),
        ("dynamodb", "BatchGetItem", {"RequestItems": {"t1": {}, "t2": {}}},
         [("dynamodb:BatchGetItem", "arn:aws:dynamodb:us-east-1:123456789012:table/t1"),
          ("dynamodb:BatchGetItem", "arn:aws:dynamodb:us-east-1:123456789012:table/t2")]),
        ("s3", "CopyObject", {"Bucket": "b", "Key": "k", "CopySource": "src/a%20b"},
         [("s3:GetObject", "arn:aws:s3:::src/a b"), ("s3:PutObject", "arn:aws:s3:::b/k")]),
        ("s3", "ListObjectsV2", {"Bucket": "b", "Prefix": "x/"},
         [("s3:ListBucket", "arn:aws:s3:::b")]),
        ("ssm", "SendCommand", {"DocumentName": "AWS-RunShellScript", "InstanceIds": ["mi-1"]},
         [("ssm:SendCommand", "arn:aws:ssm:us-east-1::document/AWS-RunShellScript"),
          ("ssm:SendCommand", "arn:aws:ssm:us-east-1:123456789012:managed-instance/mi-1")]),
        ("iot", "ListThings", {}, [("iot:ListThings", "*")]),
        ("sts", "GetCallerIdentity", {}, []),
    ],
)  # fmt: skip
def test_a_call_needs_the_actions_and_resources_the_authorization_reference_names(
    service: str, operation: str, params: dict[str, Any], expected: list[tuple[str, str]]
) -> None:
    assert [(r.action, r.resource) for r in requests(service, operation, params, WHERE)] == expected


POLICIES = {
    "functions": {
        "reader": {
            "statements": [
                allow(["dynamodb:GetItem"], ["arn:aws:dynamodb:*:*:table/${Table:guard_state}"])
            ],
            "environment": ["SELFHEAL_TABLE_GUARD_STATE"],
        }
    },
    "stateMachines": {},
}  # fmt: skip


@pytest.fixture
def enforced(monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.delenv(RECORD_ENV, raising=False)  # refusals on purpose: not the suite's
    for key, value in {
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "SELFHEAL_TABLE_GUARD_STATE": "guards",
        "SELFHEAL_TOPIC_OPS": "arn:aws:sns:us-east-1:123456789012:ops",
    }.items():
        monkeypatch.setenv(key, value)
    with mock_aws():
        boto3.client("dynamodb").create_table(
            TableName="guards",
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        enforcer = Enforcer(
            names={"Table:guard_state": "guards"},
            role_name=lambda kind, name: f"role-{name}",
            where=WHERE,
            tags=NO_TAGS,
            policies=POLICIES,
        )
        clients.reset()
        with enforcer.installed():
            yield enforcer
        clients.reset()


def test_a_refused_call_fails_with_the_code_aws_gives(enforced: Enforcer) -> None:
    ddb, sns = clients.client("dynamodb"), clients.client("sns")
    with enforced.acting_as("reader"):
        ddb.get_item(TableName="guards", Key={"pk": {"S": "x"}})  # granted
        with pytest.raises(ddb.exceptions.ClientError) as denied:
            ddb.put_item(TableName="guards", Item={"pk": {"S": "x"}})
        with pytest.raises(ClientError) as topic:
            sns.publish(TopicArn="arn:aws:sns:us-east-1:123456789012:ops", Message="m")
    assert denied.value.response["Error"]["Code"] == "AccessDeniedException"
    assert "assumed-role/role-reader/reader is not authorized to perform: dynamodb:PutItem" in str(
        denied.value
    )
    assert topic.value.response["Error"]["Code"] == "AuthorizationError"
    # nothing was written: the call never reached the service
    assert "Item" not in boto3.client("dynamodb").get_item(
        TableName="guards", Key={"pk": {"S": "x"}}
    )
    # outside a handler (the world, an operator): not a role's call
    ddb.put_item(TableName="guards", Item={"pk": {"S": "y"}})


def test_a_function_sees_only_the_variables_its_configuration_sets(enforced: Enforcer) -> None:
    ops = "arn:aws:sns:us-east-1:123456789012:ops"
    assert config.settings().topics == {"ops": ops}  # outside a handler: the whole process
    with enforced.acting_as("reader"):
        seen = config.settings()
        assert seen.guard_table == "guards"
        assert seen.topics == {}
        with pytest.raises(KeyError, match="no SNS topic configured for level 'ops'"):
            seen.topic("ops")


def _synthesized(names: dict[str, str]) -> Enforcer:
    return Enforcer(names=names, role_name=lambda kind, name: name, where=WHERE, tags=NO_TAGS)


def test_every_acting_function_may_read_the_guards_right_before_it_acts() -> None:
    """`run.act` reads the kill switch, dry-run and silences with one BatchGetItem on the
    guard table right before acting: under the synthesized roles every acting function may,
    on every branch (retrain_poll acts only on one no test reaches)."""
    from selfheal_cdk import spec as spec_mod

    from tests.contract.asl_protocol import acting_actions

    names = {
        "Table:guard_state": "guards",
        "AWS::Partition": "aws",
        "AWS::Region": "us-east-1",
        "AWS::AccountId": "123456789012",
    }
    enforcer = _synthesized(names)
    acting = [
        name
        for name, fn in spec_mod.load().functions.items()
        if acting_actions({"permissions": list(fn.permissions)})
    ]
    read = {"RequestItems": {"guards": {"Keys": [{"pk": {"S": "kill-switch"}}]}}}
    refused = {
        name: enforcer.check(enforcer.functions[name], "dynamodb", "BatchGetItem", read)
        for name in acting
    }
    assert {
        "rollback_disable_flags",
        "freeze_resources",
        "freeze_snapshot",
        "mapper_switch",
    } <= set(acting)
    assert {"retrain_start", "retrain_poll", "edge_command"} <= set(acting)
    assert {name: why for name, why in refused.items() if why} == {}


def test_a_state_machine_client_kept_across_pipelines_is_checked_by_the_current_one() -> None:
    """The runtime keeps a state machine's clients for every pipeline of the process (speed):
    each pipeline's own check sees its calls, and an earlier pipeline's check no longer
    does (it would record, or refuse, calls that are not its pipeline's)."""
    from local.runtime import Pipeline
    from local.worlds import World
    from tests.helpers import FIVE_XX, load_event, spec_for

    spec = spec_for(("rollback_on_5xx",))
    world = World.load().spec.model_copy(deep=True)
    world.ingestion, world.edgeSites = [], []
    world.fiscal = world.forecasting = None

    def invokes(enforcer: Enforcer | None) -> set[tuple[str, str, str, str, bool]]:
        assert enforcer is not None
        return {c for c in enforcer.observed.calls if c[:3] == (
            "stateMachine", "rollback_on_5xx", "lambda:InvokeFunction"
        )}  # fmt: skip

    with Pipeline(world=World(world.model_copy(deep=True)), spec=spec) as first:
        [run] = first.run_event(load_event(FIVE_XX))
        assert run["status"] == "SUCCEEDED", run
        seen_by_first = invokes(first.iam)
        assert seen_by_first and all(allowed for *_, allowed in seen_by_first)
    assert first.iam is not None
    first.iam.observed = Observed()  # what the first check sees from here on
    with Pipeline(world=World(world.model_copy(deep=True)), spec=spec) as second:
        [run] = second.run_event(load_event(FIVE_XX))
        assert run["status"] == "SUCCEEDED", run
        assert invokes(second.iam) == seen_by_first
    assert first.iam.observed.calls == set()
