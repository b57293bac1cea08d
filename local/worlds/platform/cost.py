"""What cost hygiene acts on: Lambda functions with N published versions, aliases on some,
a CodeDeploy deployment naming a current and a target version (its AppSpec, as a Lambda
deployment carries it), log groups with and without retention, the raw bucket with its own
lifecycle rules. Seeded into the pipeline's account; `state` reads it back for assertions."""

from __future__ import annotations

import json
from typing import Any

import yaml
from pydantic import BaseModel, Field

from local.world_api import Pipeline
from local.worlds.deploy import lambda_zip


class Deployment(BaseModel):
    """A Lambda CodeDeploy deployment of `alias` from `current` to `target` (not finished)."""

    application: str
    group: str
    alias: str = "live"
    current: str
    target: str
    #: The revision in S3 (its AppSpec is not in GetDeployment's answer).
    inS3: bool = False
    #: The AppSpec content written in YAML (as most are), not JSON.
    yamlSpec: bool = False


class ProjectFunction(BaseModel):
    function: str
    versions: int = Field(ge=1)
    #: alias name -> version
    aliases: dict[str, str] = Field(default_factory=dict)
    #: alias name -> {version: weight}: a weighted alias also routes to these versions.
    routing: dict[str, dict[str, float]] = Field(default_factory=dict)
    deployment: Deployment | None = None
    #: published versions an SQS queue's event source mapping invokes
    mapped: list[str] = Field(default_factory=list)


class CostWorld(BaseModel):
    functions: list[ProjectFunction]
    #: log group -> its retention in days (None: kept forever)
    logGroups: dict[str, int | None]
    rawBucket: str
    #: the bucket's own lifecycle rules, before any run
    rawRules: list[dict[str, Any]] = Field(default_factory=list)


def seed(p: Pipeline, world: CostWorld) -> dict[str, str]:
    """Creates it all; returns the deployment ids by function."""
    lam, logs, s3 = p.client("lambda"), p.client("logs"), p.client("s3")
    role = p.client("iam").create_role(RoleName="ons-platform-fn", AssumeRolePolicyDocument="{}")
    deployments: dict[str, str] = {}
    for fn in world.functions:
        lam.create_function(
            FunctionName=fn.function,
            Runtime="python3.12",
            Role=role["Role"]["Arn"],
            Handler="app.handler",
            Code={"ZipFile": lambda_zip("v0")},
        )
        for n in range(1, fn.versions + 1):
            lam.update_function_code(FunctionName=fn.function, ZipFile=lambda_zip(f"v{n}"))
            lam.publish_version(FunctionName=fn.function, Description=f"release {n}")
        for name, version in fn.aliases.items():
            weights = fn.routing.get(name)
            lam.create_alias(
                FunctionName=fn.function,
                Name=name,
                FunctionVersion=version,
                **({"RoutingConfig": {"AdditionalVersionWeights": weights}} if weights else {}),
            )
        for version in fn.mapped:
            _map(p, fn.function, version)
        if fn.deployment:
            deployments[fn.function] = _deploy(p, fn.function, fn.deployment, role["Role"]["Arn"])
    for group, days in world.logGroups.items():
        logs.create_log_group(logGroupName=group)
        if days:
            logs.put_retention_policy(logGroupName=group, retentionInDays=days)
    s3.create_bucket(Bucket=world.rawBucket)
    if world.rawRules:
        s3.put_bucket_lifecycle_configuration(
            Bucket=world.rawBucket, LifecycleConfiguration={"Rules": world.rawRules}
        )
    return deployments


def _map(p: Pipeline, function: str, version: str) -> None:
    sqs = p.client("sqs")
    url = sqs.create_queue(QueueName=f"{function}-{version}-in")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]
    p.client("lambda").create_event_source_mapping(
        FunctionName=f"{function}:{version}", EventSourceArn=arn["QueueArn"]
    )


def _deploy(p: Pipeline, function: str, d: Deployment, role: str) -> str:
    cd = p.client("codedeploy")
    cd.create_application(applicationName=d.application, computePlatform="Lambda")
    cd.create_deployment_group(
        applicationName=d.application, deploymentGroupName=d.group, serviceRoleArn=role
    )
    appspec = {
        "version": 0.0,
        "Resources": [
            {
                function: {
                    "Type": "AWS::Lambda::Function",
                    "Properties": {
                        "Name": function,
                        "Alias": d.alias,
                        "CurrentVersion": d.current,
                        "TargetVersion": d.target,
                    },
                }
            }
        ],
    }
    made = cd.create_deployment(
        applicationName=d.application,
        deploymentGroupName=d.group,
        revision=_revision(d, appspec),
    )
    return str(made["deploymentId"])


def _revision(d: Deployment, appspec: dict[str, Any]) -> dict[str, Any]:
    if d.inS3:
        where = {"bucket": "ons-platform-deploy", "key": "appspec.yml", "bundleType": "YAML"}
        return {"revisionType": "S3", "s3Location": where}
    content = yaml.safe_dump(appspec) if d.yamlSpec else json.dumps(appspec)
    return {"revisionType": "AppSpecContent", "appSpecContent": {"content": content}}


def state(p: Pipeline, world: CostWorld) -> dict[str, Any]:
    """The account as it is now: published versions per function, retention per log group,
    the raw bucket's lifecycle rules by ID."""
    lam, logs, s3 = p.client("lambda"), p.client("logs"), p.client("s3")
    versions = {
        fn.function: [
            v["Version"]
            for v in lam.list_versions_by_function(FunctionName=fn.function)["Versions"]
            if v["Version"] != "$LATEST"
        ]
        for fn in world.functions
    }
    groups = {
        g["logGroupName"]: g.get("retentionInDays") for g in logs.describe_log_groups()["logGroups"]
    }
    try:
        rules = s3.get_bucket_lifecycle_configuration(Bucket=world.rawBucket)["Rules"]
    except s3.exceptions.ClientError:
        rules = []
    return {"versions": versions, "retention": groups, "rules": {r["ID"]: r for r in rules}}
