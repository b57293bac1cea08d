"""cdk-nag (v3) helpers: acknowledgements that name the exact finding they accept and say why.

cdk-nag 3 is a CDK policy-validation plugin: findings fail the synth (errors) or land in
`validation-report.json` (warnings), and are accepted with `Validations.of(c).acknowledge`
on the construct or an ancestor. IAM5 findings are acknowledged one by one
(`AwsSolutions-IAM5[Resource::...]`), so an accepted wildcard never hides a new one, and on
the policy that holds them (not the role or state machine above it, which have no finding of
their own and where the acknowledgement would also cover a future inline policy).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from typing import Any

from aws_cdk import Acknowledgment, Aws, Stack, Validations
from aws_cdk import aws_iam as iam
from cdk_nag import AwsSolutionsChecks, ServerlessChecks
from constructs import IConstruct

IAM5 = "AwsSolutions-IAM5"

#: X-Ray has no resource-level permissions: AWS requires `Resource: *` for these actions.
XRAY_REASON = (
    "X-Ray PutTraceSegments/PutTelemetryRecords and sampling reads do not support "
    "resource-level permissions; AWS requires Resource '*'."
)
LOG_DELIVERY_REASON = (
    "Step Functions vended-log delivery (logs:CreateLogDelivery, PutResourcePolicy, ...) only "
    "accepts Resource '*'; the destination itself is the state machine's own log group."
)
KMS_REASON = (
    "CDK's SNS publish grant on an encrypted topic: kms:GenerateDataKey* covers the data-key "
    "variants SNS asks for, and the resource is the one topic key, not any key."
)


def nag_resource(resource: str) -> str:
    """How IAM5 spells a `Fn::Sub` resource in a finding: `${X}` becomes `<X>`."""
    return "Resource::" + resource.replace("${", "<").replace("}", ">")


def stack_output(producer: Stack, reference: dict[str, Any]) -> dict[str, Any]:
    """How a consumer's template reads `reference` (a Ref/GetAtt of `producer`) with the
    app's weak cross-stack references (cdk.json `@aws-cdk/core:defaultCrossStackReferences`):
    `Fn::GetStackOutput` of the output the CDK adds under the producer's `Publish` scope,
    whose logical id is the CDK's unique id of that path (human part + md5 of the path).
    An IAM5 finding on a cross-stack ARN is named after it."""
    text = json.dumps(reference, separators=(",", ":"))
    path = ["Publish", f"Output{text}"]
    human = "".join(c for c in "".join(path) if c.isalnum())
    digest = hashlib.md5("/".join(path).encode(), usedforsecurity=False).hexdigest()
    return {
        "Fn::GetStackOutput": {
            "StackName": producer.stack_name,
            "Region": producer.resolve(Aws.REGION),
            "OutputName": human + digest[:8].upper(),
        }
    }


def policy_of(construct: IConstruct) -> IConstruct:
    """Where a role's (or a state machine's role's) IAM findings are: its default policy."""
    role = construct if isinstance(construct, iam.Role) else getattr(construct, "role", None)
    policy = role.node.try_find_child("DefaultPolicy") if isinstance(role, iam.Role) else None
    if policy is None:
        raise ValueError(f"{construct.node.path}: no role default policy to acknowledge on")
    return policy


def acknowledge_iam5(construct: IConstruct, findings: Iterable[tuple[str, str]]) -> None:
    """Accept each `(finding, reason)` IAM5 finding on the default policy of `construct`'s
    role (see `policy_of`); a finding with several causes (X-Ray and a declared `*` read)
    keeps every reason."""
    construct = policy_of(construct)
    reasons: dict[str, list[str]] = {}
    for finding, reason in findings:
        if reason not in reasons.setdefault(finding, []):
            reasons[finding].append(reason)
    for finding, why in reasons.items():
        Validations.of(construct).acknowledge(
            Acknowledgment(id=f"{IAM5}[{finding}]", reason=" | ".join(why))
        )


def acknowledge(construct: IConstruct, rule: str, reason: str) -> None:
    """Accept one whole (non-granular) rule on `construct` and everything under it."""
    Validations.of(construct).acknowledge(Acknowledgment(id=rule, reason=reason))


def add_checks(scope: IConstruct) -> None:
    """Run the AWS Solutions and Serverless packs on every stack under `scope` at synth time
    (an unacknowledged error of either fails the synth)."""
    Validations.of(scope).add_plugins(
        AwsSolutionsChecks(scope, verbose=True, write_suppressions_to_cloud_formation=True),
        ServerlessChecks(scope, verbose=True),
    )
