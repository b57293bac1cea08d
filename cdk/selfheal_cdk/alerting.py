"""The SNS topics people are paged on (ops and the L1-L3 escalation levels), and who is
subscribed to each (deploy-time configuration, `subscriptions.py`).

One customer-managed KMS key encrypts them all: the AWS-managed `alias/aws/sns` key cannot
be used by EventBridge or CloudWatch alarms, and both must be able to publish here. (CDK
grants EventBridge itself when a rule targets a topic; alarm actions it does not.)
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from aws_cdk import Annotations, Aws
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sns as sns
from constructs import Construct

from .subscriptions import Subscriptions

ALARMS = "cloudwatch.amazonaws.com"
NOBODY = (
    "no page subscriptions configured (-c selfheal:subscriptions=<file>, see "
    "config/subscriptions.example.json): the topics are created, but every page reaches nobody"
)
PROTOCOLS = {
    "email": sns.SubscriptionProtocol.EMAIL,
    "email-json": sns.SubscriptionProtocol.EMAIL_JSON,
    "sms": sns.SubscriptionProtocol.SMS,
    "https": sns.SubscriptionProtocol.HTTPS,
}


class Alerting(Construct):
    """One encrypted, TLS-only topic per escalation level."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        levels: Iterable[str],
        subscriptions: Subscriptions | None = None,
    ) -> None:
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
        self._subscribe(subscriptions)

    def _subscribe(self, subscriptions: Subscriptions | None) -> None:
        if subscriptions is None or subscriptions.count == 0:
            Annotations.of(self).add_warning_v2("selfheal:pagesReachNobody", NOBODY)
            return
        for level, subscribers in subscriptions.levels.items():
            for n, who in enumerate(subscribers):
                sns.Subscription(
                    self,
                    f"{level}-{who.protocol}-{n}",
                    topic=self.topics[level],
                    protocol=PROTOCOLS[who.protocol],
                    endpoint=who.endpoint,
                    raw_message_delivery=who.rawMessageDelivery or None,
                    filter_policy=_filter(who.filter_policy()),
                )
        if silent := [level for level in self.topics if not subscriptions.levels.get(level)]:
            Annotations.of(self).add_warning_v2(
                "selfheal:levelReachesNobody",
                f"no subscriptions for topic level(s) {silent}: their pages reach nobody",
            )


def _filter(policy: dict[str, list[Any]] | None) -> dict[str, sns.SubscriptionFilter] | None:
    """The subscriber's filter policy as CDK takes it (the conditions as they are: a list of
    values with `{"exists": false}`, which no `SubscriptionFilter` factory builds)."""
    if policy is None:
        return None
    return {attr: sns.SubscriptionFilter(conditions=cond) for attr, cond in policy.items()}
