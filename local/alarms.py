"""CloudWatch's part for the alarms the rules wait for: created in moto from the same
definitions as the stacks (`events/alarms/*.json`, read by `spec.py`), evaluated from the
metric data put to moto at virtual time, each transition emitted as the `CloudWatch Alarm
State Change` event EventBridge would route.

moto stores alarms and metric data but evaluates nothing, `set_alarm_state` emits no event,
and CloudWatch Logs does not apply metric filters; this adapter does those three things and
keeps the decision itself in `local/alarm_evaluation.py` (pure).

Who moves an alarm: whoever created it. The pipeline creates the definitions' alarms before
the world is seeded (every concrete definition whose rule is in the pipeline's spec, and
the templated ones for the instances a caller names: `Pipeline(alarm_instances=...)`); this
adapter drives exactly those. The simulated world's own alarms (its functions' Errors, its
APIs' 5XX, its composites, the forecast MAPE it seeds) model their service's health rather
than metric data, and stay the world's; the world does not create an alarm that already
exists (`local/worlds/ml/forecast.py`).

Evaluation happens when virtual time passes a period boundary (the clock's listeners): each
boundary crossed is evaluated in order, on the complete periods before it; in scheduler mode
boundaries are not deadlines of their own, so time moves for something else (a Wait, a
timer, `clock.advance`). The initial state is the evaluation of no data, set quietly (the
deployment's steady state before the story begins): INSUFFICIENT_DATA for `missing`, OK for
`notBreaching`.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from unittest import mock

from moto.cloudwatch.models import (
    CloudWatchBackend,
    MetricAggregatedDatum,
    MetricDatum,
    cloudwatch_backends,
)
from moto.core.models import DEFAULT_ACCOUNT_ID
from moto.logs.models import LogsBackend
from selfheal_cdk.spec import AlarmSpec

from . import alarm_evaluation as ev

if TYPE_CHECKING:
    from .host import Pipeline

#: Instances of templated definitions: definition name -> [{variable: value}, ...].
Instances = dict[str, list[dict[str, str]]]
#: The documented state-change event of a metric alarm (`runtime.alarm_event`): (the alarm
#: as DescribeAlarms returns it, new state, previous state, reason, when) -> the event.
AlarmEvent = Callable[[dict[str, Any], str, str, str, datetime], dict[str, Any]]


@dataclass
class Evaluated:
    """One alarm this adapter drives."""

    definition: AlarmSpec
    args: dict[str, Any]  # PutMetricAlarm's
    rule: ev.Rule
    #: The last boundary evaluated: nothing at or before it is evaluated again.
    evaluated: datetime
    state: str = "INSUFFICIENT_DATA"
    #: The state with no data at all (the initial one): nothing to evaluate while it holds
    #: and no datapoint was ever put.
    idle: str = "INSUFFICIENT_DATA"
    metric: tuple[str, str, frozenset[tuple[str, str]]] = field(init=False)

    def __post_init__(self) -> None:
        dims = frozenset((d["Name"], d["Value"]) for d in self.args["Dimensions"])
        self.metric = (self.args["Namespace"], self.args["MetricName"], dims)

    @property
    def name(self) -> str:
        return str(self.args["AlarmName"])


@dataclass
class Transition:
    alarm: Evaluated
    previous: dict[str, Any]  # the alarm as DescribeAlarms had it before
    outcome: ev.Outcome
    at: datetime


@dataclass
class LocalAlarms:
    pipeline: Pipeline
    alarm_event: AlarmEvent
    instances: Instances = field(default_factory=dict)
    alarms: dict[str, Evaluated] = field(default_factory=dict)
    filters: dict[str, ev.LogFilter] = field(default_factory=dict)  # filter name -> matcher
    _lock: threading.Lock = field(default_factory=threading.Lock)

    # -- building ----------------------------------------------------------------------

    def create(self) -> None:
        """PutMetricAlarm for every definition instance of the pipeline's spec, the initial
        state set quietly; PutMetricFilter for the metric filters the stacks create."""
        spec = self.pipeline.spec
        unknown = sorted(set(self.instances) - set(spec.alarms))
        if unknown:
            raise KeyError(f"alarm_instances names no alarm definition: {unknown}")
        cw = self.pipeline.client("cloudwatch")
        now = self.pipeline.clock.now()
        for definition in spec.alarms.values():
            if definition.rule not in spec.rules:
                continue  # its workflow is not in this pipeline
            for values in definition.instances(self.instances):
                args = definition.render(values)
                cw.put_metric_alarm(**args)
                rule = ev.Rule.of(args)
                start = ev.boundary_at_or_before(now, rule.period)
                first = ev.evaluate(rule, [], start, "INSUFFICIENT_DATA")
                # quietly, in moto's backend (moto starts every alarm OK; CloudWatch starts
                # it INSUFFICIENT_DATA, then the first evaluation of no data decides)
                self._backend().set_alarm_state(
                    args["AlarmName"],
                    "Unchecked: Initial alarm creation"
                    if first.state == "INSUFFICIENT_DATA"
                    else first.reason,
                    "{}",
                    first.state,
                )
                self.alarms[args["AlarmName"]] = Evaluated(
                    definition, args, rule, evaluated=start, state=first.state, idle=first.state
                )
            self._create_filter(definition)

    def settle(self, name: str, state: str, reason: str) -> None:
        """A scene's history: the alarm has been in `state` since before the story begins
        (a sample event says it went there), set quietly in moto and here, as `create` sets
        the initial state; evaluation goes on from it (no event for a transition that is
        the sample's own)."""
        with self._lock:
            alarm = self.alarms[name]
            self._backend().set_alarm_state(name, reason, "{}", state)
            alarm.state = state

    def _create_filter(self, definition: AlarmSpec) -> None:
        """As the stack does: the log group (the hosts' CloudWatch agents write into it),
        its transformer if the definition has one, then the metric filter (CloudWatch Logs
        refuses a filter or a transformer on a group that does not exist)."""
        pub = definition.publisher
        if pub.get("kind") != "logMetricFilter" or definition.templated:
            return
        logs = self.pipeline.client("logs")
        with suppress(logs.exceptions.ResourceAlreadyExistsException):
            logs.create_log_group(logGroupName=pub["logGroup"])
        if pub.get("transformer"):
            logs.put_transformer(
                logGroupIdentifier=pub["logGroup"], transformerConfig=pub["transformer"]
            )
        logs.put_metric_filter(
            logGroupName=pub["logGroup"],
            filterName=definition.filter_name,
            filterPattern=pub["filterPattern"],
            metricTransformations=[definition.metric_transformation()],
            applyOnTransformedLogs=bool(pub.get("applyOnTransformedLogs")),
        )
        self.filters[definition.filter_name] = ev.LogFilter.parse(pub["filterPattern"])

    @contextmanager
    def installed(self) -> Iterator[LocalAlarms]:
        """CloudWatch Logs applying metric filters to what is put (moto does not)."""
        adapter = self
        original: Callable[..., Any] = LogsBackend.put_log_events

        def put_log_events(
            backend: LogsBackend,
            log_group_name: str,
            log_stream_name: str,
            log_events: list[dict[str, Any]],
        ) -> Any:
            result = original(backend, log_group_name, log_stream_name, log_events)
            # what CloudWatch Logs accepted: from 14 days ago to 2 hours ahead (moto's rule)
            now = adapter.pipeline.clock.now()
            oldest = (now - timedelta(days=14)).timestamp() * 1000
            newest = (now + timedelta(hours=2)).timestamp() * 1000
            accepted = [e for e in log_events if oldest <= e["timestamp"] <= newest]
            adapter.apply_filters(backend, log_group_name, accepted)
            return result

        with mock.patch.object(LogsBackend, "put_log_events", put_log_events):
            yield self

    def apply_filters(
        self, backend: LogsBackend, log_group: str, events: list[dict[str, Any]]
    ) -> None:
        matching = backend.filters.get_matching_filters(log_group_name=log_group)
        ext = self.pipeline.extensions
        transformer = ext.log_transformers.get(log_group)
        transformed: dict[int, str] = {}

        def message(n: int, event: dict[str, Any], on_transformed: bool) -> str:
            """What the filter reads: the event as ingested, or as the group's transformer
            made it (JSON) for a filter put with `applyOnTransformedLogs`."""
            raw = str(event["message"])
            if not on_transformed or transformer is None:
                return raw
            if n not in transformed:
                doc = transformer.apply(raw)
                transformed[n] = raw if doc is None else json.dumps(doc, ensure_ascii=False)
            return transformed[n]

        data: list[tuple[str, dict[str, Any]]] = []
        for f in matching:
            matcher = self.filters.get(f["filterName"]) or ev.LogFilter.parse(f["filterPattern"])
            on_transformed = (log_group, f["filterName"]) in ext.on_transformed_filters
            for n, event in enumerate(events):
                for t in f["metricTransformations"]:
                    found = matcher.datum(message(n, event, on_transformed), t)
                    if found is None:
                        continue
                    value, dims = found
                    at = datetime.fromtimestamp(event["timestamp"] / 1000, tz=UTC)
                    data.append(
                        (
                            t["metricNamespace"],
                            {
                                "MetricName": t["metricName"],
                                "Value": value,
                                "Timestamp": at.replace(tzinfo=None),
                                "Dimensions": [{"Name": k, "Value": v} for k, v in dims.items()],
                            },
                        )
                    )
        cw = self._backend()
        for namespace, datum in data:
            cw.put_metric_data(namespace, [datum])

    # -- evaluating ----------------------------------------------------------------------

    def _backend(self) -> CloudWatchBackend:
        return cloudwatch_backends[DEFAULT_ACCOUNT_ID][self.pipeline.extensions.region]

    def _samples(self) -> dict[tuple[str, str, frozenset[tuple[str, str]]], list[ev.Sample]]:
        out: dict[tuple[str, str, frozenset[tuple[str, str]]], list[ev.Sample]] = {}
        data = self._backend().get_all_metrics()
        if not data:
            return out
        wanted = {a.metric for a in self.alarms.values()}
        for datum in list(data):
            key = (
                datum.namespace,
                datum.name,
                frozenset((d.name, d.value) for d in datum.dimensions),
            )
            if key not in wanted:
                continue
            at = datum.timestamp.replace(tzinfo=UTC)
            if isinstance(datum, MetricDatum):
                sample = ev.Sample.value(at, float(datum.value))
            elif isinstance(datum, MetricAggregatedDatum):
                sample = ev.Sample(
                    at,
                    float(datum.sum),
                    float(datum.sample_count),
                    float(datum.min),
                    float(datum.max),
                )
            else:
                continue
            out.setdefault(key, []).append(sample)
        return out

    def on_time_passed(self, now: datetime) -> None:
        """The clock's listener: evaluate each boundary crossed, then emit the transitions."""
        if not self.alarms:
            return
        with self._lock:
            transitions = self._evaluate(now)
        for t in transitions:
            self._emit(t)

    def _evaluate(self, now: datetime) -> list[Transition]:
        samples = self._samples()
        cw = self.pipeline.client("cloudwatch")
        out: list[Transition] = []
        for alarm in self.alarms.values():
            mine = samples.get(alarm.metric, [])
            if not mine and alarm.state == alarm.idle:
                # never any data, still in the no-data state: every boundary would agree
                alarm.evaluated = max(
                    alarm.evaluated, ev.boundary_at_or_before(now, alarm.rule.period)
                )
                continue
            bounds = _worth_evaluating(alarm.evaluated, now, mine, alarm.rule)
            if not bounds:
                continue
            for at in bounds:
                outcome = ev.evaluate(alarm.rule, mine, at, alarm.state)
                if outcome.state != alarm.state:
                    before = cw.describe_alarms(AlarmNames=[alarm.name])["MetricAlarms"][0]
                    cw.set_alarm_state(
                        AlarmName=alarm.name,
                        StateValue=outcome.state,
                        StateReason=outcome.reason[:1023],
                        StateReasonData=json.dumps(outcome.reason_data),
                    )
                    out.append(Transition(alarm, before, outcome, at))
                    alarm.state = outcome.state
            alarm.evaluated = bounds[-1]
        out.sort(key=lambda t: t.at)
        return out

    def _emit(self, t: Transition) -> None:
        p = self.pipeline
        previous = t.previous["StateValue"]
        p.log(
            "alarm",
            f"alarm {t.alarm.name}: {previous} -> {t.outcome.state} ({t.outcome.reason})",
        )
        p.put_event(state_change_event(self.alarm_event, t.previous, t.outcome, t.at))


def _worth_evaluating(
    after: datetime, now: datetime, samples: list[ev.Sample], rule: ev.Rule
) -> list[datetime]:
    """The boundaries in (after, now] whose window can differ from the one before: those
    with a sample in or just out of their window, the first and the last. Between them
    every window is empty, so a long jump (a month of a scheduled job) costs a few
    evaluations, not one per minute."""
    step = timedelta(seconds=rule.period)
    first = ev.boundary_at_or_before(after, rule.period) + step
    last = ev.boundary_at_or_before(now, rule.period)
    if last < first:
        return []
    if (last - first) // step <= rule.evaluation_periods + 2:
        return ev.boundaries(after, now, rule.period)
    keep = {first, last}
    for s in samples:
        start = ev.boundary_at_or_before(s.at, rule.period)
        for n in range(1, rule.evaluation_periods + 2):
            at = start + step * n
            if first <= at <= last:
                keep.add(at)
    return sorted(keep)


def state_change_event(
    alarm_event: AlarmEvent, before: dict[str, Any], outcome: ev.Outcome, at: datetime
) -> dict[str, Any]:
    """The documented `CloudWatch Alarm State Change` event of a metric alarm (AWS
    CloudWatch User Guide, "Alarm events and EventBridge": `state` and `previousState` with
    value, reason, reasonData and timestamp; `configuration.metrics[].metricStat`), from
    `alarm_event` with what the evaluation adds."""
    event = alarm_event(before, outcome.state, before["StateValue"], outcome.reason, at)
    detail = event["detail"]
    detail["state"]["reasonData"] = json.dumps(outcome.reason_data)
    updated = before.get("StateUpdatedTimestamp")
    if isinstance(updated, datetime):
        detail["previousState"]["timestamp"] = ev.stamp(updated)
    if before.get("StateReasonData") and before["StateReasonData"] != "{}":
        detail["previousState"]["reasonData"] = before["StateReasonData"]
    return event
