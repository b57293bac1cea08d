"""EventBridge Scheduler: one schedule per `events/schedules/<name>.json`.

Each schedule runs its cron in its own time zone (`ScheduleExpressionTimezone`) and starts
exactly one state machine, with a role that may start only that one and dead-letter to
the stack's queue. The input is the file's, with Scheduler's `<aws.scheduler.*>` context
attributes left for Scheduler to fill (local/schedules.py fills them the same way).
"""

from __future__ import annotations

from collections.abc import Mapping

from aws_cdk import Aws
from aws_cdk import aws_iam as iam
from aws_cdk import aws_scheduler as scheduler
from aws_cdk import aws_sqs as sqs
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from .spec import ScheduleSpec, Spec

#: A monthly or weekly job that could not start within a day needs a person, not a retry.
MAX_EVENT_AGE_SECONDS = 86400
RETRY_ATTEMPTS = 8


def scheduler_role(
    scope: Construct,
    construct_id: str,
    *,
    description: str,
    action: str,
    resource: str,
    dead_letters: sqs.IQueue,
) -> iam.Role:
    """A role only Scheduler in this account assumes, allowed one action on one target and
    its dead-letter queue: every schedule's role, so none can grow past its target."""
    role = iam.Role(
        scope,
        construct_id,
        assumed_by=iam.ServicePrincipal(
            "scheduler.amazonaws.com",
            conditions={"StringEquals": {"aws:SourceAccount": Aws.ACCOUNT_ID}},
        ),
        description=description,
    )
    role.add_to_policy(iam.PolicyStatement(actions=[action], resources=[resource]))
    dead_letters.grant_send_messages(role)
    return role


class Schedules(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        spec: Spec,
        state_machines: Mapping[str, sfn.IStateMachine],
        dead_letters: sqs.IQueue,
    ) -> None:
        super().__init__(scope, construct_id)
        self.roles: dict[str, iam.Role] = {}
        self.schedules: dict[str, scheduler.CfnSchedule] = {
            name: self._schedule(sch, state_machines[sch.workflow], dead_letters)
            for name, sch in spec.schedules.items()
        }

    def _schedule(
        self, sch: ScheduleSpec, machine: sfn.IStateMachine, dead_letters: sqs.IQueue
    ) -> scheduler.CfnSchedule:
        scope = Construct(self, sch.name)
        role = scheduler_role(
            scope,
            "Role",
            description=f"selfheal schedule {sch.name}: start {sch.workflow} only",
            action="states:StartExecution",
            resource=machine.state_machine_arn,
            dead_letters=dead_letters,
        )
        self.roles[sch.name] = role
        return scheduler.CfnSchedule(
            scope,
            "Schedule",
            description=(sch.description or f"selfheal {sch.name}")[:512],
            schedule_expression=sch.expression,
            schedule_expression_timezone=sch.timezone,
            flexible_time_window=scheduler.CfnSchedule.FlexibleTimeWindowProperty(mode="OFF"),
            state="ENABLED" if sch.enabled else "DISABLED",
            target=scheduler.CfnSchedule.TargetProperty(
                arn=machine.state_machine_arn,
                role_arn=role.role_arn,
                input=sch.input_text(),
                retry_policy=scheduler.CfnSchedule.RetryPolicyProperty(
                    maximum_event_age_in_seconds=MAX_EVENT_AGE_SECONDS,
                    maximum_retry_attempts=RETRY_ATTEMPTS,
                ),
                dead_letter_config=scheduler.CfnSchedule.DeadLetterConfigProperty(
                    arn=dead_letters.queue_arn
                ),
            ),
        )
