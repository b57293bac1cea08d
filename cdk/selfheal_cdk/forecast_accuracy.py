"""The forecast accuracy alarm (runbook 000 section 3, "MAPE > 8% nos últimos 7 dias") and
the daily publication of the metric it reads.

Both come from ONE definition, `selfheal_shared/ml/forecast_alarm.json` in the shared layer
(wired by `events/alarms/forecast-mape.json`: rule, publisher; read by `spec.py`), which the
local world reads too (`local/worlds/ml/forecast.py`): one alarm per system named in the
`selfheal:forecastSystems` context, and an EventBridge Scheduler schedule that invokes
`functions/ml/retrain_accuracy` every day, which publishes each system's 7-day MAPE. The alarm's
state change reaches `events/rules/retrain_model.json` on the default bus.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_scheduler as scheduler
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from .alarms import cfn_alarm_properties
from .functions import dead_letter_async_failures
from .schedules import MAX_EVENT_AGE_SECONDS, RETRY_ATTEMPTS, scheduler_role
from .spec import Spec

PUBLISHER = "retrain_accuracy"
#: What Scheduler sends the publisher (it fills the context attribute).
PUBLISH_INPUT = {"trigger": "schedule", "scheduledTime": "<aws.scheduler.scheduled-time>"}


def definition_path(spec: Spec) -> Path:
    return spec.layer_path / "python" / "selfheal_shared" / "ml" / "forecast_alarm.json"


def load_definition(spec: Spec) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(definition_path(spec).read_text())
    return data


#: The forecast alarm's definition in events/alarms/ (its numbers in forecast_alarm.json).
ALARM_DEFINITION = "forecast-mape"


def alarm_properties(spec: Spec, system: str) -> dict[str, Any]:
    """CfnAlarm properties of one system's alarm (the same fields PutMetricAlarm takes)."""
    definition = spec.alarms[ALARM_DEFINITION]
    return cfn_alarm_properties(definition.render({definition.variables[0]: system}))


class ForecastAccuracy(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        spec: Spec,
        systems: Sequence[str],
        publisher: lambda_.IFunction,
        dead_letters: sqs.IQueue,
    ) -> None:
        super().__init__(scope, construct_id)
        definition = load_definition(spec)
        self.alarms: dict[str, cloudwatch.CfnAlarm] = {
            system: cloudwatch.CfnAlarm(self, f"Alarm-{system}", **alarm_properties(spec, system))
            for system in systems
        }
        # Scheduler invokes the publisher asynchronously: a failed run is kept, not dropped.
        dead_letter_async_failures(publisher, dead_letters)
        role = scheduler_role(
            self,
            "PublishRole",
            description=f"selfheal: invoke {PUBLISHER} only (forecast accuracy metric)",
            action="lambda:InvokeFunction",
            resource=publisher.function_arn,
            dead_letters=dead_letters,
        )
        when = definition["publishSchedule"]
        self.schedule = scheduler.CfnSchedule(
            self,
            "PublishSchedule",
            description="selfheal: publish each system's 7-day forecast MAPE (runbook 000 §3)",
            schedule_expression=when["expression"],
            schedule_expression_timezone=when["timezone"],
            flexible_time_window=scheduler.CfnSchedule.FlexibleTimeWindowProperty(mode="OFF"),
            target=scheduler.CfnSchedule.TargetProperty(
                arn=publisher.function_arn,
                role_arn=role.role_arn,
                input=json.dumps(PUBLISH_INPUT, sort_keys=True),
                retry_policy=scheduler.CfnSchedule.RetryPolicyProperty(
                    maximum_event_age_in_seconds=MAX_EVENT_AGE_SECONDS,
                    maximum_retry_attempts=RETRY_ATTEMPTS,
                ),
                dead_letter_config=scheduler.CfnSchedule.DeadLetterConfigProperty(
                    arn=dead_letters.queue_arn
                ),
            ),
        )
