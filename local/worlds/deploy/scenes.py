"""The deploy domain's scenes: the data platform behind the critical function's alarm
(`critical_failure`), with the errors that put its alarm in ALARM."""

from __future__ import annotations

from contextlib import ExitStack
from datetime import datetime, timedelta

from local.world_api import Pipeline, Scene

from .critical import CriticalPlatform

FAILING = "lambda_router"
#: What the sample's alarm evaluated: Lambda's Errors for lambda_router, three minutes.
ERRORS_PER_MINUTE = 40.0


def _critical_failure(p: Pipeline, stack: ExitStack) -> None:
    platform = CriticalPlatform(p)
    cw = p.client("cloudwatch")
    now = p.clock.now()
    for minutes_ago in (3, 2, 1, 0):
        cw.put_metric_data(
            Namespace="AWS/Lambda",
            MetricData=[
                {
                    "MetricName": "Errors",
                    "Dimensions": [{"Name": "FunctionName", "Value": FAILING}],
                    "Value": ERRORS_PER_MINUTE,
                    "Timestamp": now - timedelta(minutes=minutes_ago),
                }
            ],
        )

    def still_failing(_now: datetime | None = None) -> None:
        platform.errors({FAILING: ERRORS_PER_MINUTE})

    p.clock.listeners.append(still_failing)
    # The alarm as the stack creates it from events/alarms/critical-function-errors.json
    # (the demo world names no instance of it, so the runtime leaves its state to the
    # scene), in the state its evaluation of those datapoints reached: its event is the
    # sample, routed next.
    cw.put_metric_alarm(
        AlarmName=f"{FAILING}-critical",
        AlarmDescription=f"{FAILING}: sustained Lambda errors on a critical function",
        Namespace="AWS/Lambda",
        MetricName="Errors",
        Dimensions=[{"Name": "FunctionName", "Value": FAILING}],
        Statistic="Sum",
        Period=60,
        EvaluationPeriods=3,
        DatapointsToAlarm=3,
        Threshold=5,
        ComparisonOperator="GreaterThanOrEqualToThreshold",
        TreatMissingData="notBreaching",
    )
    cw.set_alarm_state(
        AlarmName=f"{FAILING}-critical",
        StateValue="ALARM",
        StateReason="Threshold Crossed: 3 out of the last 3 datapoints were >= 5.0",
    )


SCENES = {"critical_failure": Scene(_critical_failure, hold_until_gate=True)}
