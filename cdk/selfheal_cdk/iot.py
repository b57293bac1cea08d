"""IoT Core for the edges: topic rules feeding the ingress function, the per-device
policy (each edge only its own topics, by the thing-name policy variable), and the
one-minute sweep that finds edges whose telemetry went silent.

IoT rules and the sweep invoke the ingress asynchronously: a message IoT cannot hand over
goes to `RejectedMessages`, a sweep EventBridge cannot deliver and an invocation that still
fails after Lambda's retries go to the stack's dead-letter queue."""

from __future__ import annotations

import json

from aws_cdk import Duration, Stack
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_iot as iot
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from . import nag
from .functions import dead_letter_async_failures

POLICY_NAME = "selfheal-edge"
THING = "${iot:Connection.Thing.ThingName}"
#: topic rule name -> IoT SQL. `SELECT *, topic() AS topic` keeps the payload's fields
#: beside the topic, which is the shape the ingress validates.
RULES = {
    "selfheal_edge_status": "SELECT *, topic() AS topic FROM 'lifo4/+/status'",
    "selfheal_edge_telemetry": "SELECT *, topic() AS topic FROM 'lifo4/+/telemetry'",
    "selfheal_edge_ack": "SELECT *, topic() AS topic FROM 'lifo4/+/commands/ack'",
    "selfheal_edge_alarms": "SELECT *, topic() AS topic FROM 'lifo4/+/alarms'",
    "selfheal_edge_presence": "SELECT *, topic() AS topic FROM '$aws/events/presence/+/+'",
    # CSRs from edges' provisioning clients (claim certificate); see CLAIM_POLICY_NAME.
    "selfheal_edge_csr": "SELECT *, topic() AS topic FROM 'lifo4/provision/+/csr'",
}
#: The policy of the fleet's claim certificate: an edge whose own certificate expired
#: connects as `<thing>-claim` and may only send a CSR and receive its certificate, on
#: topics named by its client id. The ladder issues a certificate only for an edge it
#: diagnosed with an expired certificate, from a fresh CSR, attached to that thing alone.
CLAIM_POLICY_NAME = "selfheal-edge-claim"
CLIENT = "${iot:ClientId}"


class EdgeIoT(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        ingress: lambda_.IFunction,
        dead_letters: sqs.IQueue,
    ) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        self.rejected = sqs.Queue(
            self,
            "RejectedMessages",
            retention_period=Duration.days(14),
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
        )
        nag.acknowledge(
            self.rejected,
            "AwsSolutions-SQS3",
            "this queue is the IoT rules' error destination (the dead-letter queue)",
        )
        nag.acknowledge(
            self.rejected,
            "Serverless-SQSRedrivePolicy",
            "this queue is the IoT rules' error destination (a dead-letter queue): nothing "
            "consumes it automatically, so no message is ever redriven from it to another.",
        )
        dead_letter_async_failures(ingress, dead_letters)
        role = iam.Role(self, "RuleErrorRole", assumed_by=iam.ServicePrincipal("iot.amazonaws.com"))
        self.rejected.grant_send_messages(role)
        for name, sql in RULES.items():
            rule = iot.CfnTopicRule(
                self,
                name,
                rule_name=name,
                topic_rule_payload=iot.CfnTopicRule.TopicRulePayloadProperty(
                    sql=sql,
                    aws_iot_sql_version="2016-03-23",
                    rule_disabled=False,
                    actions=[
                        iot.CfnTopicRule.ActionProperty(
                            lambda_=iot.CfnTopicRule.LambdaActionProperty(
                                function_arn=ingress.function_arn
                            )
                        )
                    ],
                    error_action=iot.CfnTopicRule.ActionProperty(
                        sqs=iot.CfnTopicRule.SqsActionProperty(
                            queue_url=self.rejected.queue_url, role_arn=role.role_arn
                        )
                    ),
                ),
            )
            ingress.add_permission(
                f"Invoke-{name}",
                principal=iam.ServicePrincipal("iot.amazonaws.com"),
                source_arn=rule.attr_arn,
                source_account=stack.account,
            )
        arn = f"arn:{stack.partition}:iot:{stack.region}:{stack.account}"
        own = f"lifo4/{THING}"
        document = {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Action": "iot:Connect",
                    "Resource": [f"{arn}:client/{THING}", f"{arn}:client/{THING}-agent"],
                },
                {
                    "Effect": "Allow",
                    "Action": "iot:Publish",
                    "Resource": [
                        f"{arn}:topic/{own}/status",
                        f"{arn}:topic/{own}/telemetry",
                        f"{arn}:topic/{own}/commands/ack",
                        f"{arn}:topic/{own}/alarms",
                    ],
                },
                {
                    "Effect": "Allow",
                    "Action": "iot:Subscribe",
                    "Resource": [f"{arn}:topicfilter/{own}/commands/*"],
                },
                {
                    "Effect": "Allow",
                    "Action": "iot:Receive",
                    "Resource": [f"{arn}:topic/{own}/commands/*"],
                },
            ],
        }
        self.policy = iot.CfnPolicy(
            self,
            "EdgePolicy",
            policy_name=POLICY_NAME,
            policy_document=json.loads(json.dumps(document)),
        )
        claim = f"lifo4/provision/{CLIENT}"
        self.claim_policy = iot.CfnPolicy(
            self,
            "EdgeClaimPolicy",
            policy_name=CLAIM_POLICY_NAME,
            policy_document={
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Action": "iot:Connect",
                        "Resource": [f"{arn}:client/*-claim"],
                    },
                    {
                        "Effect": "Allow",
                        "Action": "iot:Publish",
                        "Resource": [f"{arn}:topic/{claim}/csr"],
                    },
                    {
                        "Effect": "Allow",
                        "Action": "iot:Subscribe",
                        "Resource": [f"{arn}:topicfilter/{claim}/certificate"],
                    },
                    {
                        "Effect": "Allow",
                        "Action": "iot:Receive",
                        "Resource": [f"{arn}:topic/{claim}/certificate"],
                    },
                ],
            },
        )
        sweep = events.Rule(
            self,
            "TelemetrySweep",
            schedule=events.Schedule.rate(Duration.minutes(1)),
            description="selfheal: find edges with no telemetry for > 30 s",
        )
        sweep.add_target(
            targets.LambdaFunction(
                ingress,
                event=events.RuleTargetInput.from_object({"sweep": True}),
                retry_attempts=2,
                dead_letter_queue=dead_letters,
            )
        )
