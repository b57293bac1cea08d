"""What IAM authorizes for one API call: the action(s) and resource ARN(s) AWS checks,
from the service authorization reference ("Actions, resources, and condition keys").

An operation is `<iam prefix>:<Operation>` on the resource its parameters name. Where the
reference names another action (`lambda:Invoke` is `lambda:InvokeFunction`, `s3:HeadObject`
is `s3:GetObject`) or several resources (`ssm:SendCommand` on the document and each
instance), the tables below say so. An operation without a resource rule is checked on
`*`, so a policy scoped to resources refuses it: unknown calls fail closed.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from .iam_policy import Request

#: botocore's signing name -> IAM's service prefix, where they differ.
IAM_PREFIX = {"monitoring": "cloudwatch", "iotdata": "iot", "execute-api": "apigateway"}
#: Calls IAM never checks.
UNCHECKED = {("sts", "GetCallerIdentity")}
#: (prefix, operation) -> the action IAM checks instead of `prefix:Operation`.
RENAMED = {
    ("lambda", "Invoke"): "lambda:InvokeFunction",
    ("lambda", "ListTags"): "lambda:ListTags",
    ("s3", "HeadObject"): "s3:GetObject",
    ("s3", "HeadBucket"): "s3:ListBucket",
    ("s3", "ListObjectsV2"): "s3:ListBucket",
    ("s3", "ListObjects"): "s3:ListBucket",
    ("s3", "ListObjectVersions"): "s3:ListBucketVersions",
    ("s3", "ListBuckets"): "s3:ListAllMyBuckets",
    ("s3", "DeleteObjects"): "s3:DeleteObject",
    ("s3", "GetBucketLifecycleConfiguration"): "s3:GetLifecycleConfiguration",
    ("s3", "PutBucketLifecycleConfiguration"): "s3:PutLifecycleConfiguration",
}


#: (kind, id) -> what AWS knows of an id the call names: the `app/group` of a CodeDeploy
#: deployment (IAM authorizes GetDeployment on its deployment group).
Lookup = Callable[[str, str], str | None]


def _nothing(_kind: str, _id: str) -> str | None:
    return None


@dataclass(frozen=True)
class Where:
    partition: str
    region: str
    account: str
    lookup: Lookup = _nothing

    def arn(self, service: str, resource: str, *, region: bool = True, account: bool = True) -> str:
        return (
            f"arn:{self.partition}:{service}:{self.region if region else ''}:"
            f"{self.account if account else ''}:{resource}"
        )


Rule = Callable[[str, Mapping[str, Any], Where], list[Request]]


def requests(
    signing_name: str, operation: str, params: Mapping[str, Any], where: Where
) -> list[Request]:
    """Every (action, resource) IAM checks for this call; empty when IAM checks nothing."""
    prefix = IAM_PREFIX.get(signing_name, signing_name)
    if (prefix, operation) in UNCHECKED:
        return []
    action = RENAMED.get((prefix, operation), f"{prefix}:{operation}")
    rule = RULES.get(prefix)
    found = rule(action, params, where) if rule is not None else []
    # Every resource of a local pipeline is its account's (an S3 ARN names no account)
    owner = {"aws:ResourceAccount": where.account}
    return [Request(r.action, r.resource, {**owner, **r.context}) for r in found] or [
        Request(action, "*", owner)
    ]


def _one(action: str, resource: str | None) -> list[Request]:
    return [Request(action, resource)] if resource else []


def _dynamodb(action: str, p: Mapping[str, Any], w: Where) -> list[Request]:
    def table(name: str, index: str | None = None) -> str:
        if name.startswith("arn:"):
            name = name.split(":table/", 1)[1]
        return w.arn("dynamodb", f"table/{name}" + (f"/index/{index}" if index else ""))

    if "RequestItems" in p:
        return [Request(action, table(name)) for name in p["RequestItems"]]
    if "TransactItems" in p:
        out = []
        for item in p["TransactItems"]:
            for kind, body in item.items():
                op = {"ConditionCheck": "ConditionCheckItem", "Get": "GetItem"}.get(
                    kind, f"{kind}Item"
                )
                out.append(Request(f"dynamodb:{op}", table(body["TableName"])))
        return out
    if "TableName" in p:
        return [Request(action, table(p["TableName"], p.get("IndexName")))]
    return []


def _states(action: str, p: Mapping[str, Any], w: Where) -> list[Request]:
    for key in ("stateMachineArn", "executionArn", "resourceArn"):
        if key in p:
            return _one(action, p[key])
    return []


def _sns(action: str, p: Mapping[str, Any], w: Where) -> list[Request]:
    return _one(action, p.get("TopicArn") or p.get("TargetArn"))


def _s3(action: str, p: Mapping[str, Any], w: Where) -> list[Request]:
    bucket = p.get("Bucket")
    if not bucket:
        return []
    if action == "s3:DeleteObject" and "Delete" in p:
        return [
            Request(action, f"arn:{w.partition}:s3:::{bucket}/{o['Key']}")
            for o in p["Delete"].get("Objects", [])
        ]
    if "Key" not in p or action in {"s3:ListBucket", "s3:ListBucketVersions"}:
        return [Request(action, f"arn:{w.partition}:s3:::{bucket}")]
    target = f"arn:{w.partition}:s3:::{bucket}/{p['Key']}"
    if action == "s3:CopyObject":
        source = p["CopySource"]
        if isinstance(source, Mapping):
            source = f"{source['Bucket']}/{source['Key']}"
        source = unquote(str(source).lstrip("/").split("?versionId=", 1)[0])
        return [
            Request("s3:GetObject", f"arn:{w.partition}:s3:::{source}"),
            Request("s3:PutObject", target),
        ]
    return [Request(action, target)]


def _sqs(action: str, p: Mapping[str, Any], w: Where) -> list[Request]:
    url = p.get("QueueUrl") or p.get("QueueName")
    return _one(action, w.arn("sqs", str(url).rstrip("/").rsplit("/", 1)[-1]) if url else None)


def _lambda(action: str, p: Mapping[str, Any], w: Where) -> list[Request]:
    if "UUID" in p:
        return _one(action, w.arn("lambda", f"event-source-mapping:{p['UUID']}"))
    name = p.get("FunctionName") or p.get("Resource")
    if not name:
        return []
    name = str(name)
    qualifier = p.get("Qualifier")
    if name.startswith("arn:"):
        parts = name.split(":")
        name, qualifier = parts[6], (parts[7] if len(parts) > 7 else qualifier)
    elif ":" in name:
        name, _, qualifier = name.partition(":")
    arn = w.arn("lambda", f"function:{name}")
    # Invoke and GetFunction authorize on the version or alias asked for; the alias and
    # version APIs on the function itself.
    if qualifier and action in {"lambda:InvokeFunction", "lambda:GetFunction"}:
        arn += f":{qualifier}"
    return [Request(action, arn)]


def _iot(action: str, p: Mapping[str, Any], w: Where) -> list[Request]:
    if action == "iot:Publish" and "topic" in p:
        return _one(action, w.arn("iot", f"topic/{p['topic']}"))
    if "jobId" in p:
        out = [Request(action, w.arn("iot", f"job/{p['jobId']}"))]
        if action == "iot:CreateJob":
            out += [Request(action, target) for target in p.get("targets", [])]
        return out
    if "thingName" in p:
        return _one(action, w.arn("iot", f"thing/{p['thingName']}"))
    if "certificateId" in p:
        return _one(action, w.arn("iot", f"cert/{p['certificateId']}"))
    if action == "iot:AttachPolicy" and "target" in p:
        return _one(action, p["target"])
    return []


def _ssm(action: str, p: Mapping[str, Any], w: Where) -> list[Request]:
    if action == "ssm:SendCommand":
        document = str(p.get("DocumentName", ""))
        aws_owned = document.startswith("AWS-")
        out = [
            Request(
                action,
                document
                if document.startswith("arn:")
                else w.arn("ssm", f"document/{document}", account=not aws_owned),
            )
        ]
        # Targets by tag are authorized per instance they resolve to, as SSM does.
        resolved = w.lookup("ssm-targets", json.dumps(p.get("Targets", []))) or ""
        for instance in [*p.get("InstanceIds", []), *filter(None, resolved.split(","))]:
            kind = "managed-instance" if str(instance).startswith("mi-") else "instance"
            service = "ssm" if kind == "managed-instance" else "ec2"
            out.append(Request(action, w.arn(service, f"{kind}/{instance}")))
        return out
    if "Name" in p and action.startswith("ssm:GetParameter"):
        return _one(action, w.arn("ssm", "parameter/" + str(p["Name"]).lstrip("/")))
    return []


def _secretsmanager(action: str, p: Mapping[str, Any], w: Where) -> list[Request]:
    """A secret is authorized on its full ARN (the name and AWS's random suffix): a call
    by name is resolved to it."""
    secret = str(p.get("SecretId", ""))
    if not secret:
        return []
    if not secret.startswith("arn:"):
        secret = w.lookup("secretsmanager-secret", secret) or w.arn(
            "secretsmanager", f"secret:{secret}"
        )
    return _one(action, secret)


def _cloudwatch(action: str, p: Mapping[str, Any], w: Where) -> list[Request]:
    if action == "cloudwatch:PutMetricData":
        return [Request(action, "*", {"cloudwatch:namespace": str(p.get("Namespace", ""))})]
    names = p.get("AlarmNames") or ([p["AlarmName"]] if "AlarmName" in p else [])
    return [Request(action, w.arn("cloudwatch", f"alarm:{n}")) for n in names]


def _timestream_influxdb(action: str, p: Mapping[str, Any], w: Where) -> list[Request]:
    """DB instance calls authorize on `db-instance/<id>` (the id AWS gave it)."""
    ident = p.get("identifier")
    return _one(action, w.arn("timestream-influxdb", f"db-instance/{ident}") if ident else None)


def _logs(action: str, p: Mapping[str, Any], w: Where) -> list[Request]:
    group = p.get("logGroupName") or p.get("logGroupIdentifier")
    if not group:
        return []
    group = str(group)
    if group.startswith("arn:"):
        group = group.split(":log-group:", 1)[1].removesuffix(":*")
    return _one(action, w.arn("logs", f"log-group:{group}:*"))


def _iam(action: str, p: Mapping[str, Any], w: Where) -> list[Request]:
    """The user a call names (ListAccessKeys on `user/<name>`); a call that names none
    (ListUsers) is checked on `*`, as the reference lists it."""
    user = p.get("UserName")
    return _one(action, w.arn("iam", f"user/{user}", region=False) if user else None)


def _appconfig(action: str, p: Mapping[str, Any], w: Where) -> list[Request]:
    app = p.get("ApplicationId")
    if not app:
        return []
    base = f"application/{app}"
    out = []
    if "EnvironmentId" in p:
        out.append(Request(action, w.arn("appconfig", f"{base}/environment/{p['EnvironmentId']}")))
    if "ConfigurationProfileId" in p:
        profile = f"{base}/configurationprofile/{p['ConfigurationProfileId']}"
        out.append(Request(action, w.arn("appconfig", profile)))
    if "DeploymentStrategyId" in p:
        out.append(
            Request(action, w.arn("appconfig", f"deploymentstrategy/{p['DeploymentStrategyId']}"))
        )
    return out or [Request(action, w.arn("appconfig", base))]


def _codedeploy(action: str, p: Mapping[str, Any], w: Where) -> list[Request]:
    app, group = p.get("applicationName"), p.get("deploymentGroupName")
    if not (app and group) and "deploymentId" in p:
        found = w.lookup("codedeploy-deployment", str(p["deploymentId"]))
        if found:
            app, group = found.split("/", 1)
    if app and group:
        return _one(action, w.arn("codedeploy", f"deploymentgroup:{app}/{group}"))
    if app:
        return _one(action, w.arn("codedeploy", f"application:{app}"))
    return []


def _sagemaker(action: str, p: Mapping[str, Any], w: Where) -> list[Request]:
    if "TrainingJobName" in p:
        out = [Request(action, w.arn("sagemaker", f"training-job/{p['TrainingJobName'].lower()}"))]
        if "RoleArn" in p:
            context = {"iam:PassedToService": "sagemaker.amazonaws.com"}
            out.append(Request("iam:PassRole", p["RoleArn"], context))
        return out
    name = p.get("ModelPackageName") or p.get("ModelPackageArn")
    if name:
        return _one(action, str(name) if str(name).startswith("arn:") else None)
    group = p.get("ModelPackageGroupName")
    if group:
        return _one(action, w.arn("sagemaker", f"model-package-group/{str(group).lower()}"))
    if "ResourceArn" in p:
        return _one(action, p["ResourceArn"])
    return []


def _events(action: str, p: Mapping[str, Any], w: Where) -> list[Request]:
    def bus(name: str | None) -> str:
        name = name or "default"
        return name if name.startswith("arn:") else w.arn("events", f"event-bus/{name}")

    if "Entries" in p and action == "events:PutEvents":
        return [Request(action, bus(e.get("EventBusName"))) for e in p["Entries"]]
    if "ResourceARN" in p:
        return _one(action, p["ResourceARN"])
    if "Name" in p:
        name, busname = p["Name"], p.get("EventBusName")
        rule = f"rule/{name}" if not busname or busname == "default" else f"rule/{busname}/{name}"
        return _one(action, w.arn("events", rule))
    return []


def _ecs(action: str, p: Mapping[str, Any], w: Where) -> list[Request]:
    cluster, service = str(p.get("cluster", "default")), p.get("service")
    if service:
        cluster = cluster.rsplit("/", 1)[-1]
        return _one(action, w.arn("ecs", f"service/{cluster}/{service}"))
    return []


def _apigateway(action: str, p: Mapping[str, Any], w: Where) -> list[Request]:
    """API Gateway's management API authorizes `apigateway:<HTTP verb>` on the path."""
    verb = "GET" if action.split(":", 1)[1].startswith("Get") else None
    if verb is None:
        return []
    path = "/restapis"
    if "restApiId" in p:
        path += f"/{p['restApiId']}"
        if "stageName" in p:
            path += f"/stages/{p['stageName']}"
        elif "resourceId" in p:
            path += f"/resources/{p['resourceId']}"
            if "httpMethod" in p:
                path += f"/methods/{p['httpMethod']}"
                if action.endswith("Integration"):
                    path += "/integration"
        elif action.endswith("Resources"):
            path += "/resources"
        elif action.endswith("Stages"):
            path += "/stages"
    return [Request(f"apigateway:{verb}", f"arn:{w.partition}:apigateway:{w.region}::{path}")]


RULES: dict[str, Rule] = {
    "dynamodb": _dynamodb,
    "states": _states,
    "sns": _sns,
    "s3": _s3,
    "sqs": _sqs,
    "lambda": _lambda,
    "iot": _iot,
    "ssm": _ssm,
    "secretsmanager": _secretsmanager,
    "cloudwatch": _cloudwatch,
    "logs": _logs,
    "appconfig": _appconfig,
    "codedeploy": _codedeploy,
    "sagemaker": _sagemaker,
    "events": _events,
    "ecs": _ecs,
    "apigateway": _apigateway,
    "iam": _iam,
    "timestream-influxdb": _timestream_influxdb,
}
