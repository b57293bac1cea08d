"""How CloudWatch decides a metric alarm's state, as a pure function: datapoints in, state out.

moto stores alarms and metric data but never evaluates an alarm; the runtime's adapter
(`local/alarms.py`) asks this module at each period boundary of the virtual clock.

The rule, for an alarm of M evaluation periods and N datapoints to alarm, evaluated at a
period boundary `at` over the M complete periods before it (each period's statistic of
the samples whose timestamp falls in it, or missing):

- `breaching` counts a missing period as breaching, `notBreaching` as not breaching;
- then ALARM when at least N periods breach;
- `missing` / `ignore`: every period missing is INSUFFICIENT_DATA (`missing`) or the
  current state (`ignore`); otherwise OK when more periods are fine than M - N (N breaching
  can no longer be reached), else the current state is kept (AWS's "retain current state"
  when what is there neither reaches N nor rules it out).

Simplifications against CloudWatch (README, known limits): the window is exactly the last
M periods (CloudWatch may look further back for an alarm with missing data), evaluation
happens at period boundaries on complete periods only (CloudWatch evaluates every minute),
and late data that lands in a period already evaluated is not evaluated again.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

STATES = ("OK", "ALARM", "INSUFFICIENT_DATA")

_SYMBOL = {
    "GreaterThanOrEqualToThreshold": "greater than or equal to",
    "GreaterThanThreshold": "greater than",
    "LessThanThreshold": "less than",
    "LessThanOrEqualToThreshold": "less than or equal to",
}


@dataclass(frozen=True)
class Sample:
    """One datapoint as put: a single value, or a statistic set (PutMetricData
    `StatisticValues`)."""

    at: datetime
    sum: float
    count: float = 1.0
    minimum: float | None = None
    maximum: float | None = None

    @classmethod
    def value(cls, at: datetime, value: float) -> Sample:
        v = float(value)
        return cls(at, v, 1.0, v, v)


@dataclass(frozen=True)
class Rule:
    """The parts of a metric alarm that decide its state (PutMetricAlarm's names)."""

    statistic: str
    period: int
    evaluation_periods: int
    datapoints_to_alarm: int
    comparison: str
    threshold: float
    treat_missing_data: str = "missing"

    @classmethod
    def of(cls, alarm: dict[str, Any]) -> Rule:
        """From PutMetricAlarm arguments or a DescribeAlarms MetricAlarm."""
        return cls(
            statistic=alarm["Statistic"],
            period=int(alarm["Period"]),
            evaluation_periods=int(alarm["EvaluationPeriods"]),
            datapoints_to_alarm=int(alarm.get("DatapointsToAlarm") or alarm["EvaluationPeriods"]),
            comparison=alarm["ComparisonOperator"],
            threshold=float(alarm["Threshold"]),
            treat_missing_data=alarm.get("TreatMissingData") or "missing",
        )


@dataclass(frozen=True)
class Period:
    start: datetime
    value: float | None
    count: float = 0.0

    @property
    def missing(self) -> bool:
        return self.value is None


@dataclass(frozen=True)
class Outcome:
    state: str
    reason: str
    #: The state's `reasonData` (JSON text in the API and the event).
    reason_data: dict[str, Any] = field(default_factory=dict)
    periods: tuple[Period, ...] = ()


def aggregate(samples: Sequence[Sample], statistic: str) -> float | None:
    """One period's statistic; None when no sample landed in it."""
    if not samples:
        return None
    count = sum(s.count for s in samples)
    if statistic == "Sum":
        return float(sum(s.sum for s in samples))
    if statistic == "SampleCount":
        return float(count)
    if statistic == "Average":
        return sum(s.sum for s in samples) / count if count else None
    if statistic == "Minimum":
        return float(min(s.sum if s.minimum is None else s.minimum for s in samples))
    if statistic == "Maximum":
        return float(max(s.sum if s.maximum is None else s.maximum for s in samples))
    raise ValueError(f"statistic {statistic!r} is not evaluated locally")


def breaches(value: float, comparison: str, threshold: float) -> bool:
    if comparison == "GreaterThanOrEqualToThreshold":
        return value >= threshold
    if comparison == "GreaterThanThreshold":
        return value > threshold
    if comparison == "LessThanThreshold":
        return value < threshold
    if comparison == "LessThanOrEqualToThreshold":
        return value <= threshold
    raise ValueError(f"comparison {comparison!r} is not evaluated locally")


def boundary_at_or_before(at: datetime, period: int) -> datetime:
    """The last period boundary (periods aligned on the epoch, as CloudWatch's are) <= at."""
    epoch = at.timestamp()
    return datetime.fromtimestamp(epoch - epoch % period, tz=UTC)


def boundaries(after: datetime, until: datetime, period: int) -> list[datetime]:
    """Every period boundary in (after, until]."""
    first = boundary_at_or_before(after, period) + timedelta(seconds=period)
    out = []
    at = first
    while at <= until:
        out.append(at)
        at += timedelta(seconds=period)
    return out


def periods(samples: Iterable[Sample], rule: Rule, at: datetime) -> tuple[Period, ...]:
    """The `evaluation_periods` complete periods ending at boundary `at`, oldest first."""
    step = timedelta(seconds=rule.period)
    starts = [at - step * n for n in range(rule.evaluation_periods, 0, -1)]
    buckets: dict[datetime, list[Sample]] = {s: [] for s in starts}
    first = starts[0]
    for sample in samples:
        if first <= sample.at < at:
            start = boundary_at_or_before(sample.at, rule.period)
            buckets[start].append(sample)
    return tuple(
        Period(s, aggregate(b, rule.statistic), sum(x.count for x in b)) for s, b in buckets.items()
    )


def evaluate(rule: Rule, samples: Iterable[Sample], at: datetime, current: str) -> Outcome:
    """The alarm's state at boundary `at`, given the samples put so far and its state now."""
    window = periods(samples, rule, at)
    m, n = rule.evaluation_periods, rule.datapoints_to_alarm
    missing = [p for p in window if p.missing]
    present = [p for p in window if not p.missing]
    bad = [p for p in present if breaches(p.value or 0.0, rule.comparison, rule.threshold)]
    good = [p for p in present if p not in bad]
    bad_count, good_count = len(bad), len(good)
    if rule.treat_missing_data == "breaching":
        bad_count += len(missing)
    elif rule.treat_missing_data == "notBreaching":
        good_count += len(missing)
    data = _reason_data(rule, window, at)
    if bad_count >= n:
        return Outcome("ALARM", _crossed(rule, bad, bad_count, current, "ALARM"), data, window)
    if len(missing) == m and rule.treat_missing_data in ("missing", "ignore"):
        if rule.treat_missing_data == "ignore":
            return Outcome(
                current, f"Unchanged: {m} datapoints were unknown (ignored).", data, window
            )
        return Outcome(
            "INSUFFICIENT_DATA",
            f"Insufficient Data: {m} datapoint{'s were' if m > 1 else ' was'} unknown.",
            data,
            window,
        )
    if good_count > m - n:
        return Outcome("OK", _crossed(rule, good, good_count, current, "OK"), data, window)
    return Outcome(current, f"Unchanged: {bad_count} of {m} datapoints breaching, "
                   f"{len(missing)} unknown.", data, window)  # fmt: skip


def stamp(at: datetime) -> str:
    """CloudWatch's timestamp text (`2026-11-20T04:30:00.000+0000`)."""
    at = at if at.tzinfo else at.replace(tzinfo=UTC)
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{at.microsecond // 1000:03d}+0000"


def _listed(points: Sequence[Period]) -> str:
    """AWS's "[42.0 (20/11/26 03:11:00), ...]", newest first."""
    return ", ".join(
        f"{p.value} ({p.start.astimezone(UTC):%d/%m/%y %H:%M:%S})"
        for p in sorted(points, key=lambda p: p.start, reverse=True)
    )


def _crossed(rule: Rule, shown: Sequence[Period], count: int, current: str, to: str) -> str:
    """AWS's reason: "Threshold Crossed: 2 out of the last 3 datapoints [...] were greater
    than the threshold (0.0) (minimum 2 datapoints for OK -> ALARM transition)."."""
    m = rule.evaluation_periods
    verb = ("were" if count != 1 else "was") + ("" if to == "ALARM" else " not")
    least = rule.datapoints_to_alarm if to == "ALARM" else 1
    return (
        f"Threshold Crossed: {count} out of the last {m} datapoints "
        f"[{_listed(shown)}] {verb} {_SYMBOL[rule.comparison]} the threshold "
        f"({float(rule.threshold)}) (minimum {least} datapoint{'s' if least > 1 else ''} "
        f"for {current} -> {to} transition)."
    )


def _reason_data(rule: Rule, window: Sequence[Period], at: datetime) -> dict[str, Any]:
    newest_first = sorted(window, key=lambda p: p.start, reverse=True)
    return {
        "version": "1.0",
        "queryDate": stamp(at),
        "startDate": stamp(window[0].start) if window else stamp(at),
        "statistic": rule.statistic,
        "period": rule.period,
        "recentDatapoints": [p.value for p in window if p.value is not None],
        "threshold": float(rule.threshold),
        "evaluatedDatapoints": [
            {"timestamp": stamp(p.start)}
            if p.value is None
            else {"timestamp": stamp(p.start), "sampleCount": p.count, "value": p.value}
            for p in newest_first
        ],
    }


_JSON_TERM = re.compile(r'^\$\.([A-Za-z0-9_.]+)\s*(=|!=)\s*(?:"([^"]*)"|([^\s"]+))$')


@dataclass(frozen=True)
class LogFilter:
    """A CloudWatch Logs filter pattern, for the two forms the definitions use: terms
    (`P2002`, `ERROR "Broker OFFLINE"`: every term in the line, case-sensitive) and a JSON
    condition (`{ $.message = "*P2002*" }`, conditions joined by `&&`, `*` a wildcard).
    Anything else is refused when the filter is created, so a definition cannot use a
    pattern the local runtime would silently not apply."""

    terms: tuple[str, ...] = ()
    conditions: tuple[tuple[str, str, str], ...] = ()  # (path, "=" | "!=", glob)

    @classmethod
    def parse(cls, pattern: str) -> LogFilter:
        text = pattern.strip()
        if text.startswith("{") and text.endswith("}"):
            conditions = []
            for part in text[1:-1].split("&&"):
                m = _JSON_TERM.match(part.strip())
                if not m:
                    raise ValueError(
                        f"filter pattern {pattern!r}: {part.strip()!r} is not "
                        "`$.field = value` (the local runtime applies no other)"
                    )
                path, op, quoted, bare = m.groups()
                conditions.append((path, op, quoted if quoted is not None else bare))
            return cls(conditions=tuple(conditions))
        terms = re.findall(r'"([^"]+)"|(\S+)', text)
        words = tuple(q or w for q, w in terms)
        if not words or any(w[0] in "[{?-" for w in words):
            raise ValueError(f"filter pattern {pattern!r}: only terms and one JSON condition "
                             "are applied locally")  # fmt: skip
        return cls(terms=words)

    def fields(self, message: str) -> dict[str, Any] | None:
        """The JSON object of a line, or None (a term pattern needs none)."""
        try:
            doc = json.loads(message)
        except ValueError:
            return None
        return doc if isinstance(doc, dict) else None

    def matches(self, message: str) -> bool:
        if self.terms:
            return all(t in message for t in self.terms)
        doc = self.fields(message)
        if doc is None:
            return False
        for path, op, glob in self.conditions:
            value = _path(doc, path)
            hit = value is not None and _wildcard(glob).fullmatch(_text(value)) is not None
            if hit != (op == "="):
                return False
        return True

    def datum(
        self, message: str, transformation: dict[str, Any]
    ) -> tuple[float, dict[str, str]] | None:
        """(value, dimensions) a matching line publishes under `transformation`
        (PutMetricFilter's metricTransformation), or None: no match, or a `$.field` the
        line lacks (CloudWatch Logs publishes nothing then)."""
        if not self.matches(message):
            return None
        doc = self.fields(message) or {}
        raw = str(transformation["metricValue"])
        value = _path(doc, raw[2:]) if raw.startswith("$.") else raw
        dims: dict[str, str] = {}
        for name, selector in (transformation.get("dimensions") or {}).items():
            found = _path(doc, str(selector)[2:]) if str(selector).startswith("$.") else None
            if found is None:
                return None
            dims[name] = str(found)
        try:
            return float(value), dims
        except (TypeError, ValueError):
            return None


def _path(doc: dict[str, Any], path: str) -> Any:
    cur: Any = doc
    for key in path.split("."):
        if not isinstance(cur, dict) or key not in cur:
            return None
        cur = cur[key]
    return cur


def _wildcard(glob: str) -> re.Pattern[str]:
    """A JSON condition's value as CloudWatch Logs compares it: the whole value, `*` the
    only wildcard (any text, newlines included); `?` and `[` are plain characters."""
    return re.compile(".*".join(re.escape(part) for part in glob.split("*")), re.DOTALL)


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


#: A metric filter's dimension value: a field of the (JSON) log event, as `$.field`.
_JSON_SELECTOR = re.compile(r"^\$\.[A-Za-z0-9_]+(\.[A-Za-z0-9_]+)*$")
#: CloudWatch Logs: "One metric filter can include as many as three dimensions."
MAX_DIMENSIONS = 3


def check_metric_filter(
    pattern: str,
    transformations: Sequence[dict[str, Any]],
    *,
    on_transformed: bool = False,
    transformer: Transformer | None = None,
) -> LogFilter:
    """PutMetricFilter's checks, as CloudWatch Logs makes them (`InvalidParameterException`
    there, ValueError here): dimensions only with a JSON (or space-delimited) pattern, each
    the selector of a field of the event, at most three, never with a `defaultValue`; a
    field `metricValue` likewise; `applyOnTransformedLogs` only on a log group with a
    transformer. Returns the pattern's matcher (refused when the runtime cannot apply it)."""
    matcher = LogFilter.parse(pattern)
    if on_transformed and transformer is None:
        raise ValueError("applyOnTransformedLogs is valid only for a log group that has an "
                         "active log transformer")  # fmt: skip
    for t in transformations:
        dims = t.get("dimensions") or {}
        if dims and matcher.terms:
            raise ValueError(f"filter pattern {pattern!r}: dimensions can be published only "
                             "from JSON or space-delimited log events")  # fmt: skip
        if len(dims) > MAX_DIMENSIONS:
            raise ValueError(f"a metric filter publishes at most {MAX_DIMENSIONS} dimensions")
        if dims and t.get("defaultValue") is not None:
            raise ValueError("a metric filter with dimensions cannot have a defaultValue")
        for name, selector in dims.items():
            if not _JSON_SELECTOR.match(str(selector)):
                raise ValueError(
                    f"dimension {name}: {selector!r} is not a field of the log event ($.field)"
                )
        value = str(t.get("metricValue", ""))
        if value.startswith("$"):
            if not _JSON_SELECTOR.match(value) or matcher.terms:
                raise ValueError(f"metricValue {value!r} is not a field of a JSON event")
        else:
            try:
                float(value)
            except ValueError:
                raise ValueError(f"metricValue {value!r} is neither a number nor a field") from None
    return matcher


# -- log transformers (CloudWatch Logs PutTransformer) -----------------------------------

#: The grok patterns the local runtime applies (logstash's definitions); others are refused.
GROK_PATTERNS = {
    "GREEDYDATA": r".*",
    "DATA": r".*?",
    "NOTSPACE": r"\S+",
    "WORD": r"\b\w+\b",
    "INT": r"[+-]?(?:[0-9]+)",
    "NUMBER": r"[+-]?(?:[0-9]+(?:\.[0-9]+)?)",
}
_GROK_TOKEN = re.compile(r"%\{([A-Z]+):([A-Za-z_][A-Za-z0-9_]*)\}")
_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")
#: PutTransformer: "a transformer can have as many as 20 processors"; addKeys "entries":
#: at most 5.
MAX_PROCESSORS = 20
MAX_ADD_KEYS = 5
PARSERS = ("grok", "parseJSON")
PROCESSORS = (*PARSERS, "addKeys")


@dataclass(frozen=True)
class Transformer:
    """A log group's transformer (PutTransformer's `transformerConfig`), for the processors
    the local runtime applies: a parser first (`grok` on the raw message, `parseJSON`),
    then `addKeys`. Anything else is refused when it is put, as CloudWatch Logs refuses a
    transformer without a parser first."""

    processors: tuple[dict[str, Any], ...]
    _grok: tuple[re.Pattern[str] | None, ...] = ()

    @classmethod
    def parse(cls, config: Sequence[dict[str, Any]]) -> Transformer:
        if not config or len(config) > MAX_PROCESSORS:
            raise ValueError(f"a transformer has 1 to {MAX_PROCESSORS} processors")
        procs: list[dict[str, Any]] = []
        groks: list[re.Pattern[str] | None] = []
        for n, proc in enumerate(config):
            if not isinstance(proc, dict) or len(proc) != 1:
                raise ValueError(f"processor {n}: exactly one processor per entry")
            [(kind, args)] = proc.items()
            if kind not in PROCESSORS:
                raise ValueError(f"processor {n}: {kind!r} is not applied locally "
                                 f"({', '.join(PROCESSORS)})")  # fmt: skip
            if (n == 0) != (kind in PARSERS):
                raise ValueError("the first processor of a transformer must be a parser, "
                                 "and only the first")  # fmt: skip
            args = dict(args or {})
            grok = None
            if kind == "grok":
                if set(args) - {"match", "source"} or args.get("source", "@message") != "@message":
                    raise ValueError(f"processor {n}: grok takes `match` (on @message) only")
                grok = _grok(str(args.get("match", "")))
            elif kind == "parseJSON":
                if args.get("source", "@message") != "@message" or set(args) - {"source"}:
                    raise ValueError(f"processor {n}: parseJSON of @message only")
            else:
                entries = args.get("entries")
                if set(args) != {"entries"} or not isinstance(entries, list):
                    raise ValueError(f"processor {n}: addKeys takes `entries`")
                if not 1 <= len(entries) <= MAX_ADD_KEYS:
                    raise ValueError(f"processor {n}: addKeys has 1 to {MAX_ADD_KEYS} entries")
                for e in entries:
                    if (
                        not isinstance(e, dict)
                        or set(e) - {"key", "value", "overwriteIfExists"}
                        or not _KEY.match(str(e.get("key", "")))
                        or not str(e.get("value", ""))
                    ):
                        raise ValueError(f"processor {n}: addKeys entry {e!r} needs a key "
                                         "(a plain name) and a value")  # fmt: skip
            procs.append({kind: args})
            groks.append(grok)
        return cls(tuple(procs), tuple(groks))

    def apply(self, message: str) -> dict[str, Any] | None:
        """The transformed event, or None when its parser does not take the message (the
        event then stays as ingested)."""
        doc: dict[str, Any] | None = None
        for proc, grok in zip(self.processors, self._grok, strict=True):
            [(kind, args)] = proc.items()
            if kind == "grok":
                assert grok is not None
                m = grok.search(message)
                if m is None:
                    return None
                doc = {k: v for k, v in m.groupdict().items() if v is not None}
            elif kind == "parseJSON":
                try:
                    parsed = json.loads(message)
                except ValueError:
                    return None
                if not isinstance(parsed, dict):
                    return None
                doc = parsed
            else:
                assert doc is not None
                for e in args["entries"]:
                    if e["key"] not in doc or e.get("overwriteIfExists"):
                        doc[e["key"]] = e["value"]
        return doc


def _grok(match: str) -> re.Pattern[str]:
    """A grok expression of the known patterns (`%{GREEDYDATA:message}`) and literal text."""
    out, at, names = [], 0, set()
    for m in _GROK_TOKEN.finditer(match):
        pattern, name = m.groups()
        if pattern not in GROK_PATTERNS:
            raise ValueError(f"grok pattern %{{{pattern}}} is not applied locally "
                             f"({', '.join(GROK_PATTERNS)})")  # fmt: skip
        if name in names:
            raise ValueError(f"grok names {name} twice")
        names.add(name)
        out += [re.escape(match[at : m.start()]), f"(?P<{name}>{GROK_PATTERNS[pattern]})"]
        at = m.end()
    rest = match[at:]
    if not names or "%{" in rest:
        raise ValueError(f"grok match {match!r}: no %{{PATTERN:field}} the runtime applies")
    return re.compile("".join(out) + re.escape(rest))
