"""The local CloudWatch alarm evaluation (local/alarm_evaluation.py), pure: datapoints in,
state out. N of M breaching periods, each treatment of missing data, statistics, and the
filter patterns the metric filters use."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from local import alarm_evaluation as ev

T0 = datetime(2026, 11, 20, 15, 0, tzinfo=UTC)
MIN = timedelta(minutes=1)


def rule(
    treat: str = "missing", *, m: int = 3, n: int = 2, stat: str = "Maximum", period: int = 60
) -> ev.Rule:
    return ev.Rule(
        statistic=stat,
        period=period,
        evaluation_periods=m,
        datapoints_to_alarm=n,
        comparison="GreaterThanThreshold",
        threshold=0,
        treat_missing_data=treat,
    )


def series(*values: float | None) -> list[ev.Sample]:
    """One sample per minute from T0 (None: nothing that minute), 30 s into the minute."""
    return [
        ev.Sample.value(T0 + MIN * i + timedelta(seconds=30), v)
        for i, v in enumerate(values)
        if v is not None
    ]


def state(r: ev.Rule, samples: list[ev.Sample], minutes: int, current: str = "OK") -> str:
    """The state at the boundary `minutes` after T0."""
    return ev.evaluate(r, samples, T0 + MIN * minutes, current).state


def test_two_of_three_breaching_is_alarm_and_one_is_not() -> None:
    assert state(rule(), series(1, 0, 1), 3) == "ALARM"
    assert state(rule(), series(1, 0, 0), 3) == "OK"
    assert state(rule(), series(0, 1, 1), 3) == "ALARM"


def test_the_window_is_the_last_m_complete_periods() -> None:
    samples = series(1, 1, 0, 0, 0)
    assert state(rule(), samples, 2, "INSUFFICIENT_DATA") == "ALARM"  # [-, 1, 1]
    assert state(rule(), samples, 4, "ALARM") == "OK"  # [1, 0, 0]: one left
    # a sample in the period still running is not read (complete periods only)
    assert state(rule(), series(0, 0, 1), 2) == "OK"


@pytest.mark.parametrize(
    ("treat", "current", "expected"),
    [
        ("missing", "OK", "INSUFFICIENT_DATA"),
        ("missing", "ALARM", "INSUFFICIENT_DATA"),
        ("ignore", "ALARM", "ALARM"),
        ("ignore", "OK", "OK"),
        ("breaching", "OK", "ALARM"),
        ("notBreaching", "ALARM", "OK"),
    ],
)
def test_no_data_at_all_follows_treat_missing_data(treat: str, current: str, expected: str) -> None:
    assert state(rule(treat), [], 3, current) == expected


def test_partial_data_under_missing_keeps_the_state_until_it_decides() -> None:
    """AWS's table for missing data: a breaching point with the others unknown neither
    reaches N nor rules it out: the state is retained."""
    assert state(rule("missing"), series(None, None, 1), 3, "OK") == "OK"
    assert state(rule("missing"), series(None, None, 1), 3, "INSUFFICIENT_DATA") == (
        "INSUFFICIENT_DATA"
    )
    # two fine points out of three: N breaching (2) can no longer be reached -> OK
    assert state(rule("missing"), series(0, None, 0), 3, "ALARM") == "OK"
    # one fine point with 2 of 3 needed: still reachable -> unchanged
    assert state(rule("missing"), series(None, None, 0), 3, "ALARM") == "ALARM"


def test_missing_periods_count_as_configured() -> None:
    assert state(rule("breaching"), series(1, None, None), 3) == "ALARM"
    assert state(rule("notBreaching"), series(1, None, None), 3, "ALARM") == "OK"


@pytest.mark.parametrize(
    ("stat", "expected"),
    [("Sum", 6.0), ("Average", 2.0), ("Minimum", 1.0), ("Maximum", 3.0), ("SampleCount", 3.0)],
)
def test_statistics_of_one_period(stat: str, expected: float) -> None:
    samples = [ev.Sample.value(T0 + timedelta(seconds=s), v) for s, v in ((5, 1), (20, 2), (50, 3))]
    assert ev.aggregate(samples, stat) == expected


def test_statistic_sets_aggregate_like_values() -> None:
    sets = [ev.Sample(T0, sum=10, count=4, minimum=1, maximum=5), ev.Sample.value(T0, 2)]
    assert ev.aggregate(sets, "Average") == 12 / 5
    assert ev.aggregate(sets, "Maximum") == 5 and ev.aggregate(sets, "Minimum") == 1


@pytest.mark.parametrize(
    ("comparison", "value", "breaching"),
    [
        ("GreaterThanThreshold", 5, False),
        ("GreaterThanOrEqualToThreshold", 5, True),
        ("LessThanThreshold", 5, False),
        ("LessThanOrEqualToThreshold", 5, True),
        ("LessThanThreshold", 4.9, True),
    ],
)
def test_comparisons_at_the_threshold(comparison: str, value: float, breaching: bool) -> None:
    assert ev.breaches(value, comparison, 5) is breaching


def test_reason_and_reason_data_read_like_cloudwatchs() -> None:
    out = ev.evaluate(rule(), series(1, 0, 1), T0 + MIN * 3, "OK")
    assert out.reason == (
        "Threshold Crossed: 2 out of the last 3 datapoints [1.0 (20/11/26 15:02:00), "
        "1.0 (20/11/26 15:00:00)] were greater than the threshold (0.0) "
        "(minimum 2 datapoints for OK -> ALARM transition)."
    )
    data = out.reason_data
    assert (data["statistic"], data["period"], data["threshold"]) == ("Maximum", 60, 0.0)
    assert data["recentDatapoints"] == [1.0, 0.0, 1.0]
    assert data["queryDate"] == "2026-11-20T15:03:00.000+0000"
    assert [d["timestamp"] for d in data["evaluatedDatapoints"]] == [
        "2026-11-20T15:02:00.000+0000",
        "2026-11-20T15:01:00.000+0000",
        "2026-11-20T15:00:00.000+0000",
    ]
    none = ev.evaluate(rule(), [], T0 + MIN * 3, "OK")
    assert none.reason == "Insufficient Data: 3 datapoints were unknown."


def test_periods_align_on_the_epoch_like_cloudwatch() -> None:
    at = datetime(2026, 11, 20, 15, 7, 42, tzinfo=UTC)
    assert ev.boundary_at_or_before(at, 300) == datetime(2026, 11, 20, 15, 5, tzinfo=UTC)
    assert ev.boundaries(at, at + timedelta(minutes=11), 300) == [
        datetime(2026, 11, 20, 15, 10, tzinfo=UTC),
        datetime(2026, 11, 20, 15, 15, tzinfo=UTC),
    ]


def test_a_json_filter_counts_matching_lines_with_their_dimension() -> None:
    f = ev.LogFilter.parse('{ $.message = "*P2002*" }')
    t = {"metricValue": "1", "dimensions": {"IngestionGroup": "$.ingestionGroup"}}
    line = '{"ingestionGroup": "aupus-mqtt", "message": "P2002: Unique constraint failed"}'
    assert f.datum(line, t) == (1.0, {"IngestionGroup": "aupus-mqtt"})
    assert f.datum('{"ingestionGroup": "aupus-mqtt", "message": "saved 12 rows"}', t) is None
    # plain text, or a line without the dimension's field: CloudWatch Logs publishes nothing
    assert f.datum("P2002: Unique constraint failed", t) is None
    assert f.datum('{"message": "P2002"}', t) is None


def test_a_term_filter_needs_every_term() -> None:
    f = ev.LogFilter.parse('ERROR "Broker OFFLINE"')
    assert f.matches("[MQTT] ERROR: ALERTA CRÍTICO: Broker OFFLINE!")
    assert not f.matches("[MQTT] ERROR: reconnecting")
    assert f.datum("ERROR Broker OFFLINE", {"metricValue": "1"}) == (1.0, {})


@pytest.mark.parametrize(
    "pattern", ["[ip, user, ...]", "{ $.latency > 5 }", "?ERROR ?WARN", "-DEBUG"]
)
def test_patterns_the_runtime_cannot_apply_are_refused(pattern: str) -> None:
    with pytest.raises(ValueError, match="filter pattern"):
        ev.LogFilter.parse(pattern)


P2002_LINE = (
    "❌ [MQTT] ERRO: P2002: Unique constraint failed on the fields: (`equipamento_id`,`ts`)"
    " - equipamento inv-01, ts 2024-12-29T14:00:00+00:00"
)
GROUP_TRANSFORMER = [
    {"grok": {"match": "%{GREEDYDATA:message}"}},
    {"addKeys": {"entries": [{"key": "ingestionGroup", "value": "aupus-mqtt"}]}},
]


def test_a_transformer_makes_the_plain_line_json_with_the_added_key() -> None:
    t = ev.Transformer.parse(GROUP_TRANSFORMER)
    assert t.apply(P2002_LINE) == {"message": P2002_LINE, "ingestionGroup": "aupus-mqtt"}
    # addKeys leaves a key the event has unless told to overwrite it
    keep = ev.Transformer.parse(
        [{"parseJSON": {}}, {"addKeys": {"entries": [{"key": "a", "value": "new"}]}}]
    )
    assert keep.apply('{"a": "old"}') == {"a": "old"}
    assert keep.apply("not json") is None  # the parser does not take it: left as ingested


@pytest.mark.parametrize(
    "config",
    [
        [],
        [{"addKeys": {"entries": [{"key": "k", "value": "v"}]}}],  # no parser first
        [{"grok": {"match": "%{IPV4:ip}"}}],  # a pattern not applied locally
        [{"grok": {"match": "%{GREEDYDATA:m}"}}, {"grok": {"match": "%{GREEDYDATA:n}"}}],
        [{"parseJSON": {}}, {"addKeys": {"entries": []}}],
        [{"parseJSON": {}}, {"lowerCaseString": {"withKeys": ["a"]}}],
    ],
)
def test_transformers_cloudwatch_or_the_runtime_would_not_apply_are_refused(
    config: list[dict[str, Any]],
) -> None:
    with pytest.raises(ValueError):
        ev.Transformer.parse(config)


def test_the_p2002_filter_counts_the_transformed_line_only() -> None:
    t = ev.Transformer.parse(GROUP_TRANSFORMER)
    transformation = {"metricValue": "1", "dimensions": {"IngestionGroup": "$.ingestionGroup"}}
    f = ev.check_metric_filter(
        '{ $.message = "*P2002*" }', [transformation], on_transformed=True, transformer=t
    )
    doc = t.apply(P2002_LINE)
    assert f.datum(json.dumps(doc, ensure_ascii=False), transformation) == (
        1.0,
        {"IngestionGroup": "aupus-mqtt"},
    )
    assert f.datum(P2002_LINE, transformation) is None  # as shipped: not JSON, no field
    saved = t.apply("💾 [MQTT] Buffer flush: 1 registro(s) salvo(s)")
    assert f.datum(json.dumps(saved), transformation) is None


def test_a_json_condition_has_only_the_star_wildcard() -> None:
    f = ev.LogFilter.parse('{ $.message = "P200?" }')
    assert f.matches('{"message": "P200?"}')
    assert not f.matches('{"message": "P2002"}')  # `?` is a character, not a wildcard
    assert ev.LogFilter.parse('{ $.message = "*P2002*" }').matches('{"message": "a\\nP2002\\n"}')


FOUR = {f"D{n}": f"$.d{n}" for n in range(4)}


@pytest.mark.parametrize(
    ("pattern", "transformation", "transformed", "why"),
    [
        ("P2002", {"metricValue": "1", "dimensions": {"G": "$.g"}}, False, "JSON or space"),
        ('{ $.m = "x" }', {"metricValue": "1", "dimensions": {"G": "aupus-mqtt"}}, False,
         "field of the log event"),
        ('{ $.m = "x" }', {"metricValue": "1", "dimensions": FOUR}, False, "at most 3"),
        ('{ $.m = "x" }', {"metricValue": "1", "defaultValue": 0, "dimensions": {"G": "$.g"}},
         False, "defaultValue"),
        ('{ $.m = "x" }', {"metricValue": "one"}, False, "neither a number"),
        ('{ $.m = "x" }', {"metricValue": "1"}, True, "transformer"),
    ],
)  # fmt: skip
def test_metric_filters_cloudwatch_logs_refuses_are_refused(
    pattern: str, transformation: dict[str, Any], transformed: bool, why: str
) -> None:
    with pytest.raises(ValueError, match=why):
        ev.check_metric_filter(pattern, [transformation], on_transformed=transformed)
