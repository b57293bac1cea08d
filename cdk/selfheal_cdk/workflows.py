"""One Step Functions state machine per `state_machines/<name>.asl.json`.

The definition goes into the template inline (`DefinitionString`) with CloudFormation's
`DefinitionSubstitutions` binding the `${...}` placeholders: the deployed ASL is the file,
byte for byte, and cfn-lint and the tests can read it. (`DefinitionBody.from_file` would
stage it as an S3 asset instead, leaving the template without the definition.)
"""

from __future__ import annotations

from collections.abc import Mapping

from aws_cdk import Aws, Fn, RemovalPolicy
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sns as sns
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from . import asl, nag
from .buckets import DataBuckets
from .functions import LOG_RETENTION
from .spec import Spec, WorkflowSpec
from .storage import Storage


class Workflows(Construct):
    """State machines with logging, tracing and a role that can call only what the ASL calls."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        spec: Spec,
        functions: Mapping[str, lambda_.IFunction],
        topics: Mapping[str, sns.ITopic],
        storage: Storage,
        buckets: DataBuckets | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        self._functions, self._topics, self._storage = functions, topics, storage
        self._bindings = spec.bindings(
            function_arn=lambda name: functions[name].function_arn,
            topic_arn=lambda name: topics[name].topic_arn,
            table_name=lambda name: storage.tables[name].table_name,
            bucket_name=(lambda name: buckets.buckets[name].bucket_name) if buckets else None,
        )
        self.state_machines: dict[str, sfn.StateMachine] = {
            name: self._state_machine(wf) for name, wf in spec.workflows.items()
        }

    def _state_machine(self, wf: WorkflowSpec) -> sfn.StateMachine:
        scope = Construct(self, wf.name)
        # Unique per stack instance, so a retained log group never blocks a redeploy; the
        # /aws/vendedlogs/ prefix keeps the CloudWatch Logs resource policy small.
        stack_uuid = Fn.select(2, Fn.split("/", Aws.STACK_ID))
        log_group = logs.LogGroup(
            scope,
            "Logs",
            log_group_name=f"/aws/vendedlogs/states/selfheal-{wf.name}-{stack_uuid}",
            retention=LOG_RETENTION,
            removal_policy=RemovalPolicy.RETAIN,
        )
        machine = sfn.StateMachine(
            scope,
            "StateMachine",
            definition_body=sfn.DefinitionBody.from_string(wf.definition_text),
            definition_substitutions={
                k: v for k, v in self._bindings.items() if k in wf.placeholders
            },
            state_machine_type=sfn.StateMachineType.STANDARD,
            logs=sfn.LogOptions(
                destination=log_group, level=sfn.LogLevel.ALL, include_execution_data=False
            ),
            tracing_enabled=True,
        )
        self._grant(wf, machine)
        nag.acknowledge_iam5(
            machine, [("Resource::*", f"{nag.XRAY_REASON} {nag.LOG_DELIVERY_REASON}")]
        )
        return machine

    def _grant(self, wf: WorkflowSpec, machine: sfn.StateMachine) -> None:
        """Invoke exactly the functions its tasks call (the unqualified ARN the ASL names,
        so no `:*` version wildcard), publish to its topics, and its table actions."""
        used = asl.calls(wf)
        if used.functions:
            machine.add_to_role_policy(
                iam.PolicyStatement(
                    actions=["lambda:InvokeFunction"],
                    resources=[self._functions[f].function_arn for f in sorted(used.functions)],
                )
            )
        for topic in sorted(used.topics):
            self._topics[topic].grant_publish(machine)
        if used.topics:
            nag.acknowledge_iam5(machine, [("Action::kms:GenerateDataKey*", nag.KMS_REASON)])
        for table, actions in sorted(used.tables.items()):
            self._storage.grant(table, machine, actions=sorted(actions))
