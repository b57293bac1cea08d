"""The platform domain's security world (`security_checks`): IAM users and their access
keys, IAM policy changes, security groups, and the SECURITY lines of the platform's logs.

Things that happened at a time (a key created, a policy attached, a line logged) happen at
that virtual time, so moto dates them itself (a key's CreateDate, CloudTrail's EventTime,
a log event's timestamp): `live_until` moves the clock to each in turn and does it. Ages
count back from the section's `reportAt` (the check's scheduled time).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from local.world_api import ACCOUNT, Pipeline

POLICY_DOCUMENT = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}],
    }
)
ASSUME_LAMBDA = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "lambda.amazonaws.com"},
                "Action": "sts:AssumeRole",
            }
        ],
    }
)


class AccessKey(BaseModel):
    model_config = ConfigDict(extra="forbid")

    ageDays: float = Field(ge=0)
    status: Literal["Active", "Inactive"] = "Active"


class User(BaseModel):
    model_config = ConfigDict(extra="forbid")

    userName: str
    keys: list[AccessKey] = Field(default_factory=list)


class PolicyChange(BaseModel):
    """An IAM call made `ageHours` before the report, on a role or (PutUserPolicy) a user,
    created with the world. `refusedWith`: IAM refused the call (an error code such as
    AccessDenied): nothing changed, and CloudTrail records the attempt with that code."""

    model_config = ConfigDict(extra="forbid")

    event: Literal["AttachRolePolicy", "PutRolePolicy", "DeleteRolePolicy", "PutUserPolicy"]
    roleName: str = ""
    userName: str = ""
    policy: str  # a managed policy ARN (attach) or an inline policy's name
    ageHours: float = Field(ge=0)
    refusedWith: str = ""


class Ingress(BaseModel):
    model_config = ConfigDict(extra="forbid")

    protocol: str = "tcp"
    port: int
    cidr: str


class SecurityGroup(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    ingress: list[Ingress] = Field(default_factory=list)


class LogLine(BaseModel):
    model_config = ConfigDict(extra="forbid")

    ageHours: float = Field(ge=0)
    message: str


class LogGroup(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    lines: list[LogLine] = Field(default_factory=list)


class SecurityWorld(BaseModel):
    model_config = ConfigDict(extra="forbid")

    #: The instant ages count back from (the daily check's scheduled time), UTC ISO.
    reportAt: datetime
    users: list[User] = Field(default_factory=list)
    roles: list[str] = Field(default_factory=list)
    #: Customer managed policies, created with the world (a change may attach one).
    policies: list[str] = Field(default_factory=list)
    policyChanges: list[PolicyChange] = Field(default_factory=list)
    securityGroups: list[SecurityGroup] = Field(default_factory=list)
    logGroups: list[LogGroup] = Field(default_factory=list)


class SecuritySpec(BaseModel):
    """The platform domain's security section of a world file."""

    security: SecurityWorld | None = None


def seed_security(p: Pipeline, world: SecurityWorld) -> None:
    """What exists from the start: the roles, the users, the groups and the log groups."""
    iam, ec2, logs = p.client("iam"), p.client("ec2"), p.client("logs")
    for role in world.roles:
        iam.create_role(RoleName=role, AssumeRolePolicyDocument=ASSUME_LAMBDA)
    for name in world.policies:
        iam.create_policy(PolicyName=name, PolicyDocument=POLICY_DOCUMENT)
    for user in world.users:
        iam.create_user(UserName=user.userName)
    vpc = ec2.create_vpc(CidrBlock="10.40.0.0/16")["Vpc"]["VpcId"]
    for group in world.securityGroups:
        gid = ec2.create_security_group(
            GroupName=group.name, Description=f"{group.name} (world)", VpcId=vpc
        )["GroupId"]
        for rule in group.ingress:
            ranges = (
                {"Ipv6Ranges": [{"CidrIpv6": rule.cidr}]}
                if ":" in rule.cidr
                else {"IpRanges": [{"CidrIp": rule.cidr}]}
            )
            ec2.authorize_security_group_ingress(
                GroupId=gid,
                IpPermissions=[
                    {
                        "IpProtocol": rule.protocol,
                        "FromPort": rule.port,
                        "ToPort": rule.port,
                        **ranges,
                    }
                ],
            )
    for lg in world.logGroups:
        logs.create_log_group(logGroupName=lg.name)
        logs.create_log_stream(logGroupName=lg.name, logStreamName="world")


def live_until(p: Pipeline, world: SecurityWorld, until: datetime) -> None:
    """Everything timed that happens before `until`, each at its own virtual time (the
    clock moves there first); a thing already in the clock's past is refused."""
    iam, logs = p.client("iam"), p.client("logs")
    steps: list[tuple[datetime, str, Callable[[], None]]] = []
    for user in world.users:
        for key in user.keys:
            at = world.reportAt - timedelta(days=key.ageDays)
            steps.append((at, "key", functools.partial(_create_key, iam, user.userName, key)))
    for change in world.policyChanges:
        at = world.reportAt - timedelta(hours=change.ageHours)
        steps.append((at, "iam", functools.partial(_policy_change, p, change)))
    for lg in world.logGroups:
        for line in lg.lines:
            at = world.reportAt - timedelta(hours=line.ageHours)
            steps.append((at, "log", functools.partial(_log, logs, lg.name, at, line.message)))
    for at, kind, do in sorted(steps, key=lambda s: (s[0], s[1])):
        if at >= until:
            continue
        if at < p.clock.now():
            raise ValueError(f"security world: a {kind} at {at.isoformat()} is before the clock")
        p.clock.advance_to(at)
        do()


def _create_key(iam: Any, user: str, key: AccessKey) -> None:
    made = iam.create_access_key(UserName=user)["AccessKey"]
    if key.status != "Active":
        iam.update_access_key(UserName=user, AccessKeyId=made["AccessKeyId"], Status=key.status)


def _log(logs: Any, group: str, at: datetime, message: str) -> None:
    logs.put_log_events(
        logGroupName=group,
        logStreamName="world",
        logEvents=[{"timestamp": int(at.timestamp() * 1000), "message": message}],
    )


def _policy_change(p: Pipeline, change: PolicyChange) -> None:
    iam = p.client("iam")
    if change.refusedWith:
        _refused(p, change)
    elif change.event == "PutUserPolicy":
        iam.put_user_policy(
            UserName=change.userName, PolicyName=change.policy, PolicyDocument=POLICY_DOCUMENT
        )
    elif change.event == "AttachRolePolicy":
        iam.attach_role_policy(RoleName=change.roleName, PolicyArn=change.policy)
    elif change.event == "PutRolePolicy":
        iam.put_role_policy(
            RoleName=change.roleName, PolicyName=change.policy, PolicyDocument=POLICY_DOCUMENT
        )
    else:
        iam.delete_role_policy(RoleName=change.roleName, PolicyName=change.policy)


def _refused(p: Pipeline, change: PolicyChange) -> None:
    """What CloudTrail records of a call IAM refused: the event, with its errorCode."""
    target = {"roleName": change.roleName} if change.roleName else {"userName": change.userName}
    key = "policyArn" if change.policy.startswith("arn:") else "policyName"
    p.extensions.cloudtrail.record(
        change.event,
        "iam.amazonaws.com",
        [],
        {
            "awsRegion": "us-east-1",
            "recipientAccountId": ACCOUNT,
            "errorCode": change.refusedWith,
            "errorMessage": f"not authorized to perform iam:{change.event}",
            "requestParameters": {**target, key: change.policy},
            "responseElements": None,
        },
    )


class SecurityWorldPart:
    """The security part of `local.worlds.World`."""

    spec: SecuritySpec

    def seed_security(self, p: Pipeline) -> None:
        if self.spec.security:
            seed_security(p, self.spec.security)
