"""S3 buckets of the scheduled jobs (`spec.BUCKETS`): the EMS exports they read (`data`), the
fiscal reports (`reports`), and training data and models (`models`).

All versioned (a re-run never overwrites a report: it adds a version), encrypted, TLS-only,
private, with access logs to one log bucket. Grants are explicit actions on the bucket and
its objects, never `s3:*` or `GetObject*`, and never a delete.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import cast

from aws_cdk import RemovalPolicy, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from constructs import Construct, IConstruct

from . import nag

READ: tuple[str, ...] = ("s3:GetObject", "s3:GetObjectVersion")
WRITE: tuple[str, ...] = ("s3:PutObject",)
LIST: tuple[str, ...] = ("s3:ListBucket", "s3:ListBucketVersions")
LOG_BUCKET_REASON = (
    "This is the access-log bucket of the selfheal buckets; logging it into itself or into "
    "another bucket would only move the finding."
)


class DataBuckets(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, kinds: Iterable[str]) -> None:
        super().__init__(scope, construct_id)
        self.access_logs = s3.Bucket(
            self,
            "AccessLogs",
            encryption=s3.BucketEncryption.S3_MANAGED,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_PREFERRED,
            removal_policy=RemovalPolicy.RETAIN,
        )
        nag.acknowledge(self.access_logs, "AwsSolutions-S1", LOG_BUCKET_REASON)
        self.buckets: dict[str, s3.Bucket] = {
            kind: s3.Bucket(
                self,
                kind,
                versioned=True,
                encryption=s3.BucketEncryption.S3_MANAGED,
                block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
                enforce_ssl=True,
                server_access_logs_bucket=self.access_logs,
                server_access_logs_prefix=f"{kind}/",
                removal_policy=RemovalPolicy.RETAIN,
            )
            for kind in kinds
        }

    def object_finding(self, kind: str, consumer: Stack | None = None) -> str:
        """How cdk-nag's IAM5 names `<bucket ARN>/*` of this bucket, in the policy of a
        role of `consumer` (default: the bucket's own stack)."""
        bucket = self.buckets[kind]
        stack = Stack.of(bucket)
        logical_id = stack.resolve(stack.get_logical_id(bucket.node.default_child))  # type: ignore[arg-type]
        if consumer is None or consumer is stack:
            return f"Resource::<{logical_id}.Arn>/*"
        arn = nag.stack_output(stack, {"Fn::GetAtt": [logical_id, "Arn"]})
        return f"Resource::{json.dumps(arn, separators=(',', ':'))}/*"

    def grant(
        self, kind: str, grantee: iam.IGrantable, access: str, *, prefix: str = "*"
    ) -> list[tuple[str, str]]:
        """Read (get, list) or write (read + put) on one bucket; returns the IAM5 findings
        the grant makes, for the caller to acknowledge with its own reason."""
        if access not in ("read", "write"):
            raise ValueError(f"bucket access must be read or write, got {access!r}")
        bucket = self.buckets[kind]
        actions = READ + (WRITE if access == "write" else ())
        grantee.grant_principal.add_to_principal_policy(
            iam.PolicyStatement(actions=list(actions), resources=[bucket.arn_for_objects(prefix)])
        )
        grantee.grant_principal.add_to_principal_policy(
            iam.PolicyStatement(actions=list(LIST), resources=[bucket.bucket_arn])
        )
        why = (
            f"{access} on {prefix} objects of the {kind} bucket: keys are per organization, "
            "system and period, named at run time"
        )
        finding = self.object_finding(kind, Stack.of(cast(IConstruct, grantee)))
        return [(finding.removesuffix("/*") + f"/{prefix}", why)]
