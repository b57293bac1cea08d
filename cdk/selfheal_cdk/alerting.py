"""The SNS topics people are paged on (ops and the L1-L3 escalation levels).

One customer-managed KMS key encrypts them all: the AWS-managed `alias/aws/sns` key cannot
be used by EventBridge or CloudWatch alarms, and both must be able to publish here. (CDK
grants EventBridge itself when a rule targets a topic; alarm actions it does not.)
"""

from __future__ import annotations

from collections.abc import Iterable

from aws_cdk import Aws
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sns as sns
from constructs import Construct

ALARMS = "cloudwatch.amazonaws.com"


class Alerting(Construct):
    """One encrypted, TLS-only topic per escalation level."""

    def __init__(self, scope: Construct, construct_id: str, *, levels: Iterable[str]) -> None:
        super().__init__(scope, construct_id)
        self.key = kms.Key(
            self,
            "TopicKey",
            description="selfheal: encrypts the ops and escalation topics",
            enable_key_rotation=True,
        )
        # Key policies are the one place `*` means "this key", not "every resource".
        self.key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="AlarmsPublishToEncryptedTopics",
                principals=[iam.ServicePrincipal(ALARMS)],
                actions=["kms:Decrypt", "kms:GenerateDataKey*"],
                resources=["*"],
            )
        )
        self.topics: dict[str, sns.Topic] = {
            level: sns.Topic(
                self,
                level,
                display_name=f"selfheal {level}",
                master_key=self.key,
                enforce_ssl=True,
            )
            for level in levels
        }
        for topic in self.topics.values():
            # A topic policy replaces SNS's default one, so alarm actions must be let in
            # explicitly: this account's alarms only.
            topic.add_to_resource_policy(
                iam.PolicyStatement(
                    sid="AlarmsInThisAccountPublish",
                    principals=[iam.ServicePrincipal(ALARMS)],
                    actions=["sns:Publish"],
                    resources=[topic.topic_arn],
                    conditions={
                        "StringEquals": {"aws:SourceAccount": Aws.ACCOUNT_ID},
                        "ArnLike": {
                            "aws:SourceArn": f"arn:{Aws.PARTITION}:cloudwatch:{Aws.REGION}:"
                            f"{Aws.ACCOUNT_ID}:alarm:*"
                        },
                    },
                )
            )
