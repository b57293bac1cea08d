"""The pipeline's roles in moto: one per function and one per state machine, as the CDK
deploys them, and the enforcer that checks their calls (local/iam_enforcement.py)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from botocore.exceptions import ClientError
from moto.iam.models import iam_backends

from .host import REGION, Pipeline, deployed_name
from .iam_enforcement import Enforcer
from .iam_requests import Where

ACCOUNT = "123456789012"
TRUST = {
    "function": "lambda.amazonaws.com",
    "stateMachine": "states.amazonaws.com",
}


def role_name(kind: str, name: str) -> str:
    return f"selfheal-{'fn' if kind == 'function' else 'sm'}-{name}".replace("_", "-")[:64]


def create(p: Pipeline, kind: str, name: str) -> str:
    """The role `kind` `name` runs under; its statements are enforced by the runtime, so
    moto only needs it to exist."""
    document = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": "sts:AssumeRole",
                "Principal": {"Service": TRUST[kind]},
            }
        ],
    }
    # Straight into moto's IAM, as its CreateRole answer would store it: a full pipeline
    # makes ~90 roles, and each round trip through botocore and moto costs ~10 ms or more.
    iam: Any = iam_backends[ACCOUNT]["global"]  # its annotations disagree with its own CreateRole
    role = iam.create_role(
        role_name=role_name(kind, name),
        assume_role_policy_document=json.dumps(document),
        path=None,  # what CreateRole passes moto when the request names none: "/"
        permissions_boundary=None,
        description=None,
        tags=[],
        max_session_duration=3600,
    )
    arn: str = role.arn
    return arn


def enforcer(p: Pipeline, training_role: str) -> Enforcer:
    """The synthesized statements with our placeholders bound to this pipeline's names."""
    names = {"AWS::Partition": "aws", "AWS::Region": REGION, "AWS::AccountId": ACCOUNT}
    names |= {f"Table:{t}": n for t, n in p.tables.items()}
    names |= {f"Topic:{t}": arn.rsplit(":", 1)[-1] for t, arn in p.topics.items()}
    names |= {f"Bucket:{b}": n for b, n in p.buckets.items()}
    names |= {f"Function:{f}": deployed_name("fn", f) for f in p.spec.functions}
    names |= {f"StateMachine:{w}": deployed_name("sm", w) for w in p.spec.workflows}
    names["Role:sagemaker_training"] = training_role.rsplit("/", 1)[-1]
    return Enforcer(
        names=names,
        role_name=role_name,
        where=Where("aws", REGION, ACCOUNT, lambda kind, id_: lookup(p, kind, id_)),
        tags=lambda arn: resource_tags(p, arn),
    )


def lookup(p: Pipeline, kind: str, id_: str) -> str | None:
    """What AWS knows of an id when it authorizes a call naming it (iam_requests.Lookup)."""
    if kind == "codedeploy-deployment":
        try:
            info = p.client("codedeploy").get_deployment(deploymentId=id_)["deploymentInfo"]
        except ClientError:
            return None
        return f"{info['applicationName']}/{info['deploymentGroupName']}"
    if kind == "secretsmanager-secret":
        try:
            return str(p.client("secretsmanager").describe_secret(SecretId=id_)["ARN"])
        except ClientError:
            return None
    if kind == "ssm-targets":
        hosts = p.hosts.targets({"Targets": json.loads(id_)}) if json.loads(id_) else None
        return ",".join(h.instance_id for h in hosts or [])
    return None


def resource_tags(p: Pipeline, arn: str) -> Mapping[str, str]:
    """A resource's tags, for `aws:ResourceTag/...` conditions; none when it has none or
    its service keeps none."""
    parts = arn.split(":")
    if len(parts) < 6:
        return {}
    service, resource = parts[2], ":".join(parts[5:])
    try:
        return _tags(p, service, arn, resource)
    except ClientError:
        return {}


def _tags(p: Pipeline, service: str, arn: str, resource: str) -> Mapping[str, str]:
    if service == "lambda":
        unqualified = ":".join(arn.split(":")[:7])
        return dict(p.client("lambda").list_tags(Resource=unqualified).get("Tags", {}))
    if service == "appconfig":
        found = p.client("appconfig").list_tags_for_resource(ResourceArn=arn)
        return dict(found.get("Tags", {}))
    if service == "ssm" and resource.startswith("managed-instance/"):
        return _pairs(
            p.client("ssm").list_tags_for_resource(
                ResourceType="ManagedInstance", ResourceId=resource.split("/", 1)[1]
            )["TagList"]
        )
    if service == "ec2" and resource.startswith("instance/"):
        found = p.client("ec2").describe_tags(
            Filters=[{"Name": "resource-id", "Values": [resource.split("/", 1)[1]]}]
        )
        return _pairs(found["Tags"])
    if service == "sagemaker":
        return _pairs(p.client("sagemaker").list_tags(ResourceArn=arn)["Tags"])
    if service == "iot":
        return _pairs(p.client("iot").list_tags_for_resource(resourceArn=arn)["tags"])
    if service == "events":
        return _pairs(p.client("events").list_tags_for_resource(ResourceARN=arn)["Tags"])
    if service == "states":
        return _pairs(p.client("stepfunctions").list_tags_for_resource(resourceArn=arn)["tags"])
    return {}


def _pairs(tags: list[dict[str, str]]) -> dict[str, str]:
    return {t.get("Key", t.get("key", "")): t.get("Value", t.get("value", "")) for t in tags}
