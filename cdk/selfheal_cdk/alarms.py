"""The CloudWatch alarms the rules wait for, from `events/alarms/*.json`, and the metric
filters that publish the metrics selfheal derives from logs.

Each domain stack creates the alarms whose rule starts one of its workflows: every concrete
definition once, a templated one once per instance its context names
(`selfheal:alarmInstances`, e.g. {"lambda-errors": [{"FunctionName": "lambda_router",
"Alias": "live"}]}). A definition `deployedBy` another construct (the forecast alarm, made
beside its publisher in the core stack) is left to it. The local runtime creates the same
alarms in moto from the same `render()` (local/alarms.py).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from aws_cdk import RemovalPolicy
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_scheduler as scheduler
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from .functions import LOG_RETENTION, dead_letter_async_failures
from .schedules import scheduler_role
from .spec import ALARM_VALUE, CTX_ALARM_INSTANCES, AlarmSpec, Spec

Instances = dict[str, list[dict[str, str]]]
#: The function that publishes the metrics of the definitions with publisher `probe`.
PROBE = "service_probe"
PROBE_SCHEDULE = "rate(1 minute)"
PROBE_INPUT = {"trigger": "schedule", "scheduledTime": "<aws.scheduler.scheduled-time>"}


def cfn_alarm_properties(args: Mapping[str, Any]) -> dict[str, Any]:
    """CfnAlarm keyword arguments from PutMetricAlarm's (`AlarmSpec.render`): the
    CloudFormation properties have the same names."""
    out: dict[str, Any] = {
        "alarm_name": args["AlarmName"],
        "alarm_description": args["AlarmDescription"],
        "namespace": args["Namespace"],
        "metric_name": args["MetricName"],
        "dimensions": [
            cloudwatch.CfnAlarm.DimensionProperty(name=d["Name"], value=d["Value"])
            for d in args["Dimensions"]
        ],
        "statistic": args["Statistic"],
        "period": args["Period"],
        "evaluation_periods": args["EvaluationPeriods"],
        "datapoints_to_alarm": args["DatapointsToAlarm"],
        "threshold": args["Threshold"],
        "comparison_operator": args["ComparisonOperator"],
        "treat_missing_data": args["TreatMissingData"],
    }
    if "Unit" in args:
        out["unit"] = args["Unit"]
    return out


def parse_instances(raw: object, spec: Spec) -> Instances:
    """The `selfheal:alarmInstances` context (JSON text from `-c`, an object from cdk.json),
    validated so a typo cannot create an alarm on the wrong metric."""
    if raw is None or raw == "" or not spec.alarms:  # a spec-less app (tests) has none
        return {}
    value = json.loads(raw) if isinstance(raw, str) else raw
    where = f"context {CTX_ALARM_INSTANCES}"
    if not isinstance(value, dict):
        raise ValueError(f"{where} must be an object: definition -> list of instances")
    out: Instances = {}
    for name, instances in value.items():
        definition = spec.alarms.get(name)
        if definition is None or not definition.templated:
            raise ValueError(f"{where}: {name!r} is not a templated events/alarms definition")
        if definition.instances_context != CTX_ALARM_INSTANCES:
            raise ValueError(f"{where}: {name!r} takes its instances from "
                             f"{definition.instances_context}")  # fmt: skip
        if not isinstance(instances, list):
            raise ValueError(f"{where}: {name!r} must list instances")
        seen: set[str] = set()
        for instance in instances:
            if (
                not isinstance(instance, dict)
                or set(instance) != set(definition.variables)
                or not all(isinstance(v, str) and ALARM_VALUE.match(v) for v in instance.values())
            ):
                raise ValueError(f"{where}: {name!r} instance {instance!r} must give "
                                 f"{sorted(definition.variables)} as names")  # fmt: skip
            alarm = definition.render(instance)["AlarmName"]
            if alarm in seen:
                raise ValueError(f"{where}: {name!r} names {alarm} twice")
            seen.add(alarm)
        out[name] = [dict(i) for i in instances]
    return out


class Alarms(Construct):
    """A domain's alarms (`spec` is the domain's, `Spec.for_domain`) and its metric filters."""

    def __init__(
        self, scope: Construct, construct_id: str, *, spec: Spec, instances: Instances
    ) -> None:
        super().__init__(scope, construct_id)
        #: alarm name -> its resource.
        self.alarms: dict[str, cloudwatch.CfnAlarm] = {}
        self.filters: dict[str, logs.CfnMetricFilter] = {}
        self.log_groups: dict[str, logs.CfnLogGroup] = {}
        for definition in spec.alarms.values():
            if definition.deployed_by:
                continue
            group = Construct(self, definition.name)
            for values in definition.instances(instances):
                args = definition.render(values)
                name = args["AlarmName"]
                self.alarms[name] = cloudwatch.CfnAlarm(
                    group, f"Alarm-{name}", **cfn_alarm_properties(args)
                )
            if definition.publisher.get("kind") == "logMetricFilter" and not definition.templated:
                self.filters[definition.name] = self._metric_filter(group, definition)

    def _log_group(self, name: str) -> logs.CfnLogGroup:
        """The watched service's log group, the stack's (kept when the stack goes): a metric
        filter or a transformer on a group that does not exist fails to deploy, and the
        hosts' CloudWatch agents write into an existing group as they would create it."""
        if name not in self.log_groups:
            group = logs.LogGroup(
                self,
                f"LogGroup{len(self.log_groups)}",
                log_group_name=name,
                retention=LOG_RETENTION,
                removal_policy=RemovalPolicy.RETAIN,
            )
            self.log_groups[name] = group.node.default_child  # type: ignore[assignment]
        return self.log_groups[name]

    def _metric_filter(self, scope: Construct, definition: AlarmSpec) -> logs.CfnMetricFilter:
        """The metric filter on the watched service's log group (where the hosts' CloudWatch
        agents ship its log files), after the group's transformer when it has one (the
        filter then reads the transformed events: `applyOnTransformedLogs`)."""
        pub = definition.publisher
        group = self._log_group(pub["logGroup"])
        t = definition.metric_transformation()
        dims = t.get("dimensions", {})
        transformer = None
        if pub.get("transformer"):
            transformer = logs.CfnTransformer(
                scope,
                "Transformer",
                log_group_identifier=pub["logGroup"],
                transformer_config=[],  # set below, in CloudFormation's names
            )
            transformer.add_property_override(
                "TransformerConfig", [cfn_names(p) for p in pub["transformer"]]
            )
            transformer.add_dependency(group)
        made = logs.CfnMetricFilter(
            scope,
            "MetricFilter",
            filter_name=definition.filter_name,
            log_group_name=pub["logGroup"],
            filter_pattern=pub["filterPattern"],
            apply_on_transformed_logs=bool(pub.get("applyOnTransformedLogs")) or None,
            metric_transformations=[
                logs.CfnMetricFilter.MetricTransformationProperty(
                    metric_namespace=t["metricNamespace"],
                    metric_name=t["metricName"],
                    metric_value=t["metricValue"],
                    dimensions=[
                        logs.CfnMetricFilter.DimensionProperty(key=k, value=v)
                        for k, v in dims.items()
                    ]
                    or None,
                )
            ],
        )
        made.add_dependency(transformer or group)
        return made


def cfn_names(value: Any) -> Any:
    """A CloudWatch Logs API structure (`transformerConfig`'s processors) in CloudFormation's
    property names: each key's first letter upper case (`addKeys` -> `AddKeys`,
    `parseJSON` -> `ParseJSON`); values unchanged."""
    if isinstance(value, dict):
        return {k[:1].upper() + k[1:]: cfn_names(v) for k, v in value.items()}
    if isinstance(value, list):
        return [cfn_names(v) for v in value]
    return value


class ProbeSchedule(Construct):
    """EventBridge Scheduler invokes `service_probe` every minute (the probed alarms'
    periods are one minute); a run that still fails after Scheduler's retries goes to the
    stack's dead-letter queue, as does a failed asynchronous invocation."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        probe: lambda_.IFunction,
        dead_letters: sqs.IQueue,
    ) -> None:
        super().__init__(scope, construct_id)
        dead_letter_async_failures(probe, dead_letters)
        role = scheduler_role(
            self,
            "Role",
            description=f"selfheal: invoke {PROBE} only (service probes)",
            action="lambda:InvokeFunction",
            resource=probe.function_arn,
            dead_letters=dead_letters,
        )
        self.schedule = scheduler.CfnSchedule(
            self,
            "Schedule",
            description="selfheal: probe the described services for their alarms' metrics",
            schedule_expression=PROBE_SCHEDULE,
            flexible_time_window=scheduler.CfnSchedule.FlexibleTimeWindowProperty(mode="OFF"),
            target=scheduler.CfnSchedule.TargetProperty(
                arn=probe.function_arn,
                role_arn=role.role_arn,
                input=json.dumps(PROBE_INPUT, sort_keys=True),
                # A minute's probe is worth nothing later: no retry past the next one.
                retry_policy=scheduler.CfnSchedule.RetryPolicyProperty(
                    maximum_event_age_in_seconds=60, maximum_retry_attempts=0
                ),
                dead_letter_config=scheduler.CfnSchedule.DeadLetterConfigProperty(
                    arn=dead_letters.queue_arn
                ),
            ),
        )
