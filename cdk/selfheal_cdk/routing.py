"""EventBridge: one rule per `events/rules/<name>.json`, plus the backstop that tells ops when
any of a stack's executions fails, and a dead-letter queue per stack so no event is dropped."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, cast

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from . import nag
from .spec import RuleSpec, Spec, SpecError

#: Top-level event pattern fields and their `events.EventPattern` keyword.
PATTERN_FIELDS: dict[str, str] = {
    "source": "source",
    "detail-type": "detail_type",
    "detail": "detail",
    "account": "account",
    "region": "region",
    "resources": "resources",
    "id": "id",
    "time": "time",
    "version": "version",
}
FAILED_STATUSES = ("FAILED", "TIMED_OUT", "ABORTED")
#: Retries cover throttled StartExecution calls; an alarm older than this is a stale picture
#: to remediate from, so it goes to the dead-letter queue for a person instead.
MAX_EVENT_AGE = Duration.hours(1)
RETRY_ATTEMPTS = 8
DLQ_REASON = (
    "This queue is the dead-letter queue of the EventBridge targets; a queue behind it would "
    "only move the problem. Its depth alarm pages the ops topic instead."
)


def event_pattern(rule: RuleSpec) -> events.EventPattern:
    """The rule file's pattern, field for field."""
    unknown = sorted(set(rule.event_pattern) - PATTERN_FIELDS.keys())
    if unknown:
        raise SpecError(f"{rule.path.name}: eventPattern fields {unknown} are not supported")
    return events.EventPattern(**{PATTERN_FIELDS[k]: v for k, v in rule.event_pattern.items()})


def input_transformer(rule: RuleSpec) -> dict[str, Any] | None:
    """`target.inputTransformer` ({inputPathsMap, inputTemplate}) in CloudFormation's shape."""
    raw = rule.input_transformer
    if not raw:
        return None
    fields = {k[0].lower() + k[1:]: v for k, v in raw.items()}
    if "inputTemplate" not in fields or set(fields) - {"inputPathsMap", "inputTemplate"}:
        raise SpecError(
            f"{rule.path.name}: target.inputTransformer needs inputTemplate and at most "
            f"inputPathsMap, got {sorted(raw)}"
        )
    template = fields["inputTemplate"]
    out: dict[str, Any] = {
        "InputTemplate": template if isinstance(template, str) else json.dumps(template)
    }
    if fields.get("inputPathsMap"):
        out["InputPathsMap"] = fields["inputPathsMap"]
    return out


class DeadLetters(Construct):
    """A stack's dead-letter queue and the alarm that pages ops when anything lands in it.

    One per stack: EventBridge may only write to a queue whose policy names the rule, so a
    core queue for the domains' rules would make the core depend on every domain."""

    def __init__(self, scope: Construct, construct_id: str, *, ops_topic: sns.ITopic) -> None:
        super().__init__(scope, construct_id)
        self.queue = sqs.Queue(
            self,
            "Queue",
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            retention_period=Duration.days(14),
        )
        nag.acknowledge(self.queue, "AwsSolutions-SQS3", DLQ_REASON)
        nag.acknowledge(self.queue, "Serverless-SQSRedrivePolicy", DLQ_REASON)
        self.alarm = cloudwatch.Alarm(
            self,
            "Alarm",
            alarm_description="selfheal: an event could not be delivered to its workflow, or "
            "an asynchronously invoked function failed on it; it is kept in the dead-letter "
            "queue (message attributes name the rule or the error).",
            metric=self.queue.metric_approximate_number_of_messages_visible(
                period=Duration.minutes(5), statistic="Maximum"
            ),
            threshold=1,
            evaluation_periods=1,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
        self.alarm.add_alarm_action(cw_actions.SnsAction(ops_topic))


class Buses(Construct):
    """The custom event buses the rule files name (e.g. the edge bus fed by IoT ingress):
    ours, in the core stack, so every domain's rules can listen on them."""

    def __init__(self, scope: Construct, construct_id: str, *, spec: Spec) -> None:
        super().__init__(scope, construct_id)
        names = sorted({r.event_bus for r in spec.rules.values()} - {"default"})
        self.buses: dict[str, events.IEventBus] = {
            name: events.EventBus(self, name, event_bus_name=name) for name in names
        }


class Routing(Construct):
    """Rules from the spec to the state machines, and failures to the ops topic."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        spec: Spec,
        state_machines: Mapping[str, sfn.IStateMachine],
        ops_topic: sns.ITopic,
        dead_letters: sqs.IQueue,
        buses: Mapping[str, events.IEventBus],
    ) -> None:
        super().__init__(scope, construct_id)
        self.dead_letters, self._buses = dead_letters, buses
        self.rules: dict[str, events.Rule] = {
            name: self._rule(rule, state_machines[rule.workflow])
            for name, rule in spec.rules.items()
        }
        self.failure_rule = self._failure_rule(state_machines, ops_topic)

    def _bus(self, rule: RuleSpec) -> events.IEventBus | None:
        if rule.event_bus == "default":
            return None
        if rule.event_bus not in self._buses:
            raise SpecError(f"{rule.path.name}: eventBus {rule.event_bus!r} is not a core bus")
        return self._buses[rule.event_bus]

    def _rule(self, rule: RuleSpec, machine: sfn.IStateMachine) -> events.Rule:
        construct = events.Rule(
            self,
            rule.name,
            description=(rule.description or f"selfheal {rule.name}")[:512],
            event_bus=self._bus(rule),
            event_pattern=event_pattern(rule),
            targets=[
                targets.SfnStateMachine(
                    machine,
                    dead_letter_queue=self.dead_letters,
                    max_event_age=MAX_EVENT_AGE,
                    retry_attempts=RETRY_ATTEMPTS,
                )
            ],
        )
        transformer = input_transformer(rule)
        if transformer:
            cfn = cast(events.CfnRule, construct.node.default_child)
            cfn.add_property_override("Targets.0.InputTransformer", transformer)
        return construct

    def _failure_rule(
        self, state_machines: Mapping[str, sfn.IStateMachine], ops_topic: sns.ITopic
    ) -> events.Rule | None:
        """Backstop: every failure path escalates, but if an execution still ends FAILED,
        TIMED_OUT or ABORTED (a bug, a timeout, a person stopping it), ops hears of it."""
        if not state_machines:
            return None
        return events.Rule(
            self,
            "ExecutionFailed",
            description="selfheal: a remediation workflow failed, timed out or was aborted",
            event_pattern=events.EventPattern(
                source=["aws.states"],
                detail_type=["Step Functions Execution Status Change"],
                detail={
                    "status": list(FAILED_STATUSES),
                    "stateMachineArn": [m.state_machine_arn for m in state_machines.values()],
                },
            ),
            targets=[
                targets.SnsTopic(
                    ops_topic,
                    dead_letter_queue=self.dead_letters,
                    max_event_age=Duration.hours(24),
                    retry_attempts=RETRY_ATTEMPTS,
                )
            ],
        )
