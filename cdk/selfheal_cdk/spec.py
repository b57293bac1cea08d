"""The one reader of the convention files (events/, state_machines/, functions/), alarm
definitions (`events/alarms/`) included.

The CDK app and the local runtime both build the pipeline from what this module
returns, so the two cannot drift apart. Pure stdlib on purpose: the local runtime
imports it without aws_cdk installed.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]

#: The Python every remediator runs on in Lambda: the one the test suite runs the handlers on
#: (CI's, Debian bookworm's 3.11; tests/cdk/test_runtime.py fails when they differ). The CDK
#: (runtime, layers, the wheels pip picks) and the local runtime read it here.
LAMBDA_PYTHON = "3.11"
LAMBDA_RUNTIME = f"python{LAMBDA_PYTHON}"

#: Shared resources every workflow may name by placeholder.
#: Escalation levels, and `reports`: deliveries to organizations (filtered by organizationId).
TOPICS: tuple[str, ...] = ("ops", "l1", "l2", "l3", "l4", "security", "reports")
TABLES: tuple[str, ...] = ("audit", "idempotency", "guard_state")
#: S3 buckets: the EMS exports the jobs read, the fiscal reports, the ML models.
BUCKETS: tuple[str, ...] = ("data", "reports", "models")
#: How a function may use a bucket (`function.json` "buckets": {"data": "read"}).
BUCKET_ACCESS: tuple[str, ...] = ("read", "write")
#: Service roles a function may pass (`function.json` "passRoles").
PASS_ROLES: tuple[str, ...] = ("sagemaker_training",)

PLACEHOLDER = re.compile(r"\$\{([A-Za-z0-9_]+)\}")
_KINDS = ("Function", "Topic", "Table", "Bucket")
#: `<aws.scheduler.*>` context attributes EventBridge Scheduler fills into a target's input.
SCHEDULER_CONTEXT = (
    "aws.scheduler.schedule-arn",
    "aws.scheduler.scheduled-time",
    "aws.scheduler.execution-id",
    "aws.scheduler.attempt-number",
)
#: The stack every domain shares (tables, keys, topics, buses, layers, shared functions).
CORE = "core"
#: A domain's name is its file's stem and part of its stack's name (`Selfheal-<domain>`).
DOMAIN_NAME = re.compile(r"^[a-z][a-z0-9]{1,23}$")
_SCHEDULE_EXPRESSION = re.compile(r"^(cron\([^)]+\)|rate\(\d+ (minute|hour|day)s?\)|at\([^)]+\))$")


class SpecError(ValueError):
    """A convention file is inconsistent; the message names the file and the field."""


@dataclass(frozen=True)
class FunctionSpec:
    name: str
    path: Path
    handler: str
    description: str
    timeout_seconds: int
    memory_mb: int
    tables: tuple[str, ...]
    topics: tuple[str, ...]
    permissions: tuple[dict[str, Any], ...]
    #: table -> "read" | "write": `tables` as a list is read/write on each.
    table_access: dict[str, str] = field(default_factory=dict)
    #: bucket kind -> "read" | "write" (write includes read; never delete).
    buckets: dict[str, str] = field(default_factory=dict)
    pass_roles: tuple[str, ...] = ()
    #: `reservedConcurrency` {"executions": N, "why": ...}: Lambda reserved concurrency, only
    #: for a function whose runbook limits how many may run at once (none today: the runbooks'
    #: caps are guards and budgets in DynamoDB). None: the account's unreserved pool.
    reserved_concurrency: int | None = None
    reserved_concurrency_why: str = ""

    @property
    def placeholder(self) -> str:
        return f"Function_{self.name}"

    @property
    def domain(self) -> str:
        """Its folder: `functions/<domain>/<name>/` (`core` for what every domain uses)."""
        return self.path.parent.name

    @property
    def where(self) -> str:
        """`functions/<domain>/<name>`, for messages."""
        return f"functions/{self.domain}/{self.name}"

    @property
    def requirements(self) -> Path | None:
        """`requirements.txt` next to app.py: third-party packages bundled with the function."""
        path = self.path / "requirements.txt"
        return path if path.is_file() else None


@dataclass(frozen=True)
class RuleSpec:
    name: str
    path: Path
    description: str
    event_bus: str
    event_pattern: dict[str, Any]
    workflow: str
    input_transformer: dict[str, Any] | None
    catalog: tuple[str, ...]


@dataclass(frozen=True)
class ScheduleSpec:
    """`events/schedules/<name>.json`: an EventBridge Scheduler schedule starting a workflow."""

    name: str
    path: Path
    description: str
    expression: str
    timezone: str
    workflow: str
    input: dict[str, Any]
    catalog: tuple[str, ...]
    enabled: bool = True

    def input_text(self) -> str:
        """The target input as Scheduler receives it (context attributes left for it to fill)."""
        return json.dumps(self.input, sort_keys=True)


@dataclass(frozen=True)
class WorkflowSpec:
    name: str
    path: Path
    definition_text: str
    placeholders: frozenset[str] = field(default_factory=frozenset)

    def render(self, bindings: dict[str, str]) -> dict[str, Any]:
        """Substitute placeholders the way CloudFormation's DefinitionSubstitutions does."""
        missing = self.placeholders - bindings.keys()
        if missing:
            raise SpecError(f"{self.path.name}: unbound placeholders {sorted(missing)}")
        text = PLACEHOLDER.sub(lambda m: bindings[m.group(1)], self.definition_text)
        definition: dict[str, Any] = json.loads(text)
        return definition

    @property
    def functions(self) -> frozenset[str]:
        return frozenset(p.split("_", 1)[1] for p in self.placeholders if p.startswith("Function_"))

    @property
    def topics(self) -> frozenset[str]:
        return frozenset(p.split("_", 1)[1] for p in self.placeholders if p.startswith("Topic_"))

    @property
    def tables(self) -> frozenset[str]:
        return frozenset(p.split("_", 1)[1] for p in self.placeholders if p.startswith("Table_"))

    @property
    def input_schema(self) -> Path | None:
        """`<workflow>.input.schema.json` beside the ASL: the published manual-input schema."""
        path = self.path.with_name(f"{self.name}.input.schema.json")
        return path if path.is_file() else None


@dataclass(frozen=True)
class DomainSpec:
    """`state_machines/domains/<name>.json`: a domain of automations, deployed as one stack.

    It lists its workflows; their rules, schedules and the functions only they call follow."""

    name: str
    path: Path
    description: str
    workflows: tuple[str, ...]


#: What CloudWatch accepts (metric alarms on one metric; no anomaly bands, no percentiles).
ALARM_STATISTICS: tuple[str, ...] = ("SampleCount", "Average", "Sum", "Minimum", "Maximum")
ALARM_COMPARISONS: tuple[str, ...] = (
    "GreaterThanOrEqualToThreshold",
    "GreaterThanThreshold",
    "LessThanThreshold",
    "LessThanOrEqualToThreshold",
)
ALARM_MISSING_DATA: tuple[str, ...] = ("breaching", "notBreaching", "ignore", "missing")
#: Who publishes an alarm's metric in production. Ours: `probe` (functions/services/service_probe on
#: a schedule), `logMetricFilter` (a CloudWatch Logs metric filter the stack creates),
#: `function` (a selfheal function named in `function`). Not ours: `aws` (the service's
#: own metric, e.g. AWS/Lambda Errors), `external` (the watched system's own metrics:
#: `by` says which).
ALARM_PUBLISHERS: tuple[str, ...] = ("probe", "logMetricFilter", "function", "aws", "external")
#: What `service_probe` reads for a probe-published metric.
PROBE_CHECKS: tuple[str, ...] = ("service", "instance_health", "ingestion_metrics")
#: The CDK context naming the instances of templated alarm definitions:
#: {"<definition>": [{"<Variable>": "<value>", ...}, ...]}.
CTX_ALARM_INSTANCES = "selfheal:alarmInstances"
_VARIABLE = re.compile(r"\{([A-Za-z][A-Za-z0-9]*)\}")
#: A value substituted into an alarm name or dimension (no braces, quotes or spaces).
ALARM_VALUE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:/-]{0,127}$")


@dataclass(frozen=True)
class AlarmSpec:
    """`events/alarms/<name>.json`: one CloudWatch metric alarm a rule waits for, with what
    publishes its metric. A templated definition (`variables`) is one alarm per instance
    (`{Variable}` in the alarm name and dimension values); the deployment names its
    instances in the `selfheal:alarmInstances` context (or `instancesContext`).

    `defined_in`: the numbers live in another file the functions read at run time too
    (the forecast alarm's `selfheal_shared/ml/forecast_alarm.json`); `deployed_by`: a construct
    other than the domain's alarms creates it (there, beside its publisher)."""

    name: str
    path: Path
    rule: str
    alarm_name: str
    description: str
    why: str
    namespace: str
    metric_name: str
    dimensions: dict[str, str]
    statistic: str
    period: int
    evaluation_periods: int
    datapoints_to_alarm: int
    comparison: str
    threshold: float
    treat_missing_data: str
    publisher: dict[str, Any]
    unit: str | None = None
    variables: tuple[str, ...] = ()
    instances_context: str = CTX_ALARM_INSTANCES
    defined_in: Path | None = None
    deployed_by: str | None = None

    @property
    def templated(self) -> bool:
        return bool(self.variables)

    def render(self, values: dict[str, str] | None = None) -> dict[str, Any]:
        """PutMetricAlarm's arguments for one instance (CloudFormation's AWS::CloudWatch::Alarm
        properties have the same names). `values` gives every variable, or none for a
        concrete definition."""
        values = dict(values or {})
        if set(values) != set(self.variables):
            raise SpecError(
                f"events/alarms/{self.name}.json: an instance gives {sorted(values)}, "
                f"the definition needs {sorted(self.variables)}"
            )
        bad = [v for v in values.values() if not ALARM_VALUE.match(v)]
        if bad:
            raise SpecError(f"events/alarms/{self.name}.json: instance values {bad!r} are "
                            f"not names (letters, digits, _ . : / -)")  # fmt: skip

        def fill(text: str) -> str:
            return _VARIABLE.sub(lambda m: values[m.group(1)], text)

        out: dict[str, Any] = {
            "AlarmName": fill(self.alarm_name),
            "AlarmDescription": fill(self.description),
            "Namespace": self.namespace,
            "MetricName": self.metric_name,
            "Dimensions": [{"Name": k, "Value": fill(v)} for k, v in self.dimensions.items()],
            "Statistic": self.statistic,
            "Period": self.period,
            "EvaluationPeriods": self.evaluation_periods,
            "DatapointsToAlarm": self.datapoints_to_alarm,
            "Threshold": self.threshold,
            "ComparisonOperator": self.comparison,
            "TreatMissingData": self.treat_missing_data,
        }
        if self.unit:
            out["Unit"] = self.unit
        return out

    @property
    def filter_name(self) -> str:
        """Its metric filter's name (publisher `logMetricFilter`), in the stack and locally."""
        return f"selfheal-{self.name}"

    def metric_transformation(self) -> dict[str, Any]:
        """PutMetricFilter's metricTransformation of a `logMetricFilter` publisher."""
        pub = self.publisher
        out: dict[str, Any] = {
            "metricName": self.metric_name,
            "metricNamespace": self.namespace,
            "metricValue": pub["metricValue"],
        }
        if pub.get("dimensions"):
            out["dimensions"] = dict(pub["dimensions"])
        return out

    def instances(self, given: dict[str, list[dict[str, str]]]) -> list[dict[str, str]]:
        """The instances to create: `[{}]` for a concrete definition, else those `given`
        (the context's, keyed by definition name) names for this one."""
        return given.get(self.name, []) if self.templated else [{}]


@dataclass(frozen=True)
class Spec:
    root: Path
    functions: dict[str, FunctionSpec]
    rules: dict[str, RuleSpec]
    workflows: dict[str, WorkflowSpec]
    schedules: dict[str, ScheduleSpec] = field(default_factory=dict)
    domains: dict[str, DomainSpec] = field(default_factory=dict)
    alarms: dict[str, AlarmSpec] = field(default_factory=dict)

    @property
    def layer_path(self) -> Path:
        return self.root / "functions" / "shared"

    def problems(self) -> list[str]:
        """Every wiring mistake, so a test can show them all at once."""
        out: list[str] = []
        for rule in self.rules.values():
            if rule.workflow not in self.workflows:
                out.append(f"rule {rule.name}: target workflow {rule.workflow!r} does not exist")
        for wf in self.workflows.values():
            for ph in sorted(wf.placeholders):
                kind, _, name = ph.partition("_")
                if kind not in _KINDS or not name:
                    out.append(f"workflow {wf.name}: unknown placeholder ${{{ph}}}")
                elif kind == "Function" and name not in self.functions:
                    out.append(f"workflow {wf.name}: calls missing function {name!r}")
                elif kind == "Topic" and name not in TOPICS:
                    out.append(f"workflow {wf.name}: unknown topic {name!r}")
                elif kind == "Table" and name not in TABLES:
                    out.append(f"workflow {wf.name}: unknown table {name!r}")
                elif kind == "Bucket" and name not in BUCKETS:
                    out.append(f"workflow {wf.name}: unknown bucket {name!r}")
        for fn in self.functions.values():
            out += [
                f"function {fn.name}: unknown table {t!r}" for t in fn.tables if t not in TABLES
            ]
            out += [
                f"function {fn.name}: unknown topic {t!r}" for t in fn.topics if t not in TOPICS
            ]
            for bucket, access in fn.buckets.items():
                if bucket not in BUCKETS:
                    out.append(f"function {fn.name}: unknown bucket {bucket!r}")
                if access not in BUCKET_ACCESS:
                    out.append(f"function {fn.name}: bucket {bucket!r} access {access!r} is not "
                               f"one of {BUCKET_ACCESS}")  # fmt: skip
            out += [
                f"function {fn.name}: unknown role to pass {r!r}"
                for r in fn.pass_roles
                if r not in PASS_ROLES
            ]
        for sch in self.schedules.values():
            out += _schedule_problems(sch, self.workflows)
        return out

    def alarm_problems(self) -> list[str]:
        """Every mistake in the alarm definitions. Kept apart from `problems()`: a spec cut
        down to some workflows (tests, benchmarks) keeps every definition, and the local
        runtime creates only those whose rule it has."""
        out: list[str] = []
        for alarm in self.alarms.values():
            out += _alarm_problems(alarm, self)
        # CloudWatch Logs: one transformer per log group.
        transformers: dict[str, tuple[str, Any]] = {}
        for alarm in self.alarms.values():
            config = alarm.publisher.get("transformer")
            group = alarm.publisher.get("logGroup")
            if alarm.publisher.get("kind") != "logMetricFilter" or not config:
                continue
            first = transformers.setdefault(str(group), (alarm.name, config))
            if first[1] != config:
                other = f"events/alarms/{first[0]}.json"
                out.append(f"events/alarms/{alarm.name}.json: log group {group} has another "
                           f"transformer in {other} (one per group)")  # fmt: skip
        return out

    def alarms_for(self, workflows: Any) -> dict[str, AlarmSpec]:
        """The alarm definitions whose rule starts one of `workflows`."""
        names = set(workflows)
        return {
            n: a
            for n, a in self.alarms.items()
            if a.rule in self.rules and self.rules[a.rule].workflow in names
        }

    def domain_problems(self) -> list[str]:
        """Every workflow in exactly one domain file. Kept apart from `problems()`: only the
        deployment needs domains, so the local runtime runs a workflow that has none yet."""
        out: list[str] = []
        owners: dict[str, list[str]] = {}
        for domain in self.domains.values():
            for wf in domain.workflows:
                owners.setdefault(wf, []).append(domain.name)
                if wf not in self.workflows:
                    where = f"state_machines/domains/{domain.name}.json"
                    out.append(f"{where}: field 'workflows' names {wf!r}, not a workflow")
        for wf in self.workflows:
            found = owners.get(wf, [])
            if not found:
                out.append(f"state_machines/{wf}.asl.json: no domain; list {wf!r} in the field "
                           "'workflows' of one state_machines/domains/<domain>.json")  # fmt: skip
            elif len(found) > 1:
                out.append(f"state_machines/{wf}.asl.json: listed in the field 'workflows' of "
                           f"several domains {sorted(found)}; one only")  # fmt: skip
        # where a function belongs is known once every workflow has its one domain
        return out or self.folder_problems() + self.name_problems()

    def folder_problems(self) -> list[str]:
        """A function lives in the folder of the one domain whose workflows call it; one that
        several domains call lives in `core`; one no workflow calls (an IoT rule's, a
        schedule's) in the domain it serves."""
        out = []
        known = set(self.domains) | {CORE}
        placed = self.placement()
        for name, fn in sorted(self.functions.items()):
            if fn.domain not in known:
                out.append(f"{fn.where}: {fn.domain!r} is no domain (state_machines/domains/)")
            elif placed[name] != CORE and fn.domain != placed[name]:
                out.append(f"{fn.where}: only the {placed[name]!r} domain calls it; move it to "
                           f"functions/{placed[name]}/{name}")  # fmt: skip
        return out

    def name_problems(self) -> list[str]:
        """A step's function is found by its automation's name: it starts with the first word
        of a workflow that calls it (`rollback_`, `freeze_`, `emergency_`...). Core's and those
        no workflow calls (an IoT rule's, a schedule's) are named for what they do."""
        callers: dict[str, set[str]] = {}
        for wf in self.workflows.values():
            for step in wf.functions:
                callers.setdefault(step, set()).add(wf.name)
        out = []
        for name, fn in sorted(self.functions.items()):
            prefixes = sorted({w.split("_")[0] + "_" for w in callers.get(name, ())})
            if fn.domain != CORE and prefixes and not name.startswith(tuple(prefixes)):
                out.append(f"{fn.where}: name it after the automation that calls it "
                           f"(starting with {' or '.join(prefixes)})")  # fmt: skip
        return out

    def domain_of(self, workflow: str) -> str:
        """The domain whose file lists `workflow` (see `domain_problems`)."""
        for domain in self.domains.values():
            if workflow in domain.workflows:
                return domain.name
        raise SpecError(f"state_machines/{workflow}.asl.json: no domain lists it")

    def placement(self) -> dict[str, str]:
        """function -> the domain whose stack deploys it: the one domain whose workflows call
        it, else `CORE` (called by several domains, or by no workflow: IoT, schedules)."""
        users: dict[str, set[str]] = {name: set() for name in self.functions}
        for wf in self.workflows.values():
            for fn in wf.functions & users.keys():
                users[fn].add(self.domain_of(wf.name))
        return {fn: next(iter(d)) if len(d) == 1 else CORE for fn, d in users.items()}

    def for_domain(self, domain: str) -> Spec:
        """What one domain's stack deploys: its workflows, their rules and schedules, and
        every function they may call (its own and the core's)."""
        placed = self.placement()
        workflows = {n: wf for n, wf in self.workflows.items() if self.domain_of(n) == domain}
        return Spec(
            root=self.root,
            functions={n: f for n, f in self.functions.items() if placed[n] in {domain, CORE}},
            rules={n: r for n, r in self.rules.items() if r.workflow in workflows},
            workflows=workflows,
            schedules={n: s for n, s in self.schedules.items() if s.workflow in workflows},
            domains={domain: self.domains[domain]},
            alarms=self.alarms_for(workflows),
        )

    def bindings(self, *, function_arn, topic_arn, table_name, bucket_name=None) -> dict[str, str]:  # type: ignore[no-untyped-def]
        """Placeholder values, given how a deployer names each kind of resource."""
        out: dict[str, str] = {}
        for fn in self.functions:
            out[f"Function_{fn}"] = function_arn(fn)
        for t in TOPICS:
            out[f"Topic_{t}"] = topic_arn(t)
        for t in TABLES:
            out[f"Table_{t}"] = table_name(t)
        if bucket_name is not None:
            for b in BUCKETS:
                out[f"Bucket_{b}"] = bucket_name(b)
        return out


def _schedule_problems(sch: ScheduleSpec, workflows: dict[str, WorkflowSpec]) -> list[str]:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    out = []
    where = f"schedule {sch.name}"
    if sch.workflow not in workflows:
        out.append(f"{where}: target workflow {sch.workflow!r} does not exist")
    if not _SCHEDULE_EXPRESSION.match(sch.expression):
        out.append(f"{where}: {sch.expression!r} is not a cron(), rate() or at() expression")
    elif sch.expression.startswith("cron(") and len(sch.expression[5:-1].split()) != 6:
        out.append(f"{where}: cron needs 6 fields (min hour day-of-month month day-of-week year)")
    try:
        ZoneInfo(sch.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        out.append(f"{where}: unknown time zone {sch.timezone!r}")
    for ctx in re.findall(r"<([^>]+)>", sch.input_text()):
        if ctx not in SCHEDULER_CONTEXT:
            out.append(f"{where}: input names <{ctx}>, not a Scheduler context attribute")
    return out


def _alarm_problems(alarm: AlarmSpec, spec: Spec) -> list[str]:
    where = f"events/alarms/{alarm.name}.json"
    out = []
    if alarm.rule not in spec.rules:
        out.append(f"{where}: field 'rule' names {alarm.rule!r}, not a rule in events/rules/")
    if alarm.statistic not in ALARM_STATISTICS:
        out.append(f"{where}: statistic {alarm.statistic!r} is not one of {ALARM_STATISTICS}")
    if alarm.comparison not in ALARM_COMPARISONS:
        out.append(f"{where}: comparisonOperator {alarm.comparison!r} is not one of "
                   f"{ALARM_COMPARISONS}")  # fmt: skip
    if alarm.treat_missing_data not in ALARM_MISSING_DATA:
        out.append(f"{where}: treatMissingData {alarm.treat_missing_data!r} is not one of "
                   f"{ALARM_MISSING_DATA}")  # fmt: skip
    if alarm.period < 60 or alarm.period % 60:
        out.append(f"{where}: periodSeconds must be a multiple of 60, got {alarm.period}")
    if not 1 <= alarm.datapoints_to_alarm <= alarm.evaluation_periods:
        out.append(f"{where}: datapointsToAlarm must be 1..evaluationPeriods "
                   f"({alarm.datapoints_to_alarm} of {alarm.evaluation_periods})")  # fmt: skip
    if alarm.period * alarm.evaluation_periods > 86400:
        out.append(f"{where}: periodSeconds x evaluationPeriods must be at most one day")
    if not alarm.why.strip():
        out.append(f"{where}: field 'why' must say where the threshold comes from")
    used = set(_VARIABLE.findall(alarm.alarm_name))
    for value in alarm.dimensions.values():
        used |= set(_VARIABLE.findall(value))
    if used != set(alarm.variables):
        out.append(f"{where}: variables {sorted(alarm.variables)} but the name and dimensions "
                   f"use {sorted(used)}")  # fmt: skip
    if not alarm.templated and alarm.alarm_name != alarm.name:
        out.append(f"{where}: a concrete alarm is named by its file ({alarm.alarm_name!r})")
    kind = alarm.publisher.get("kind")
    if kind not in ALARM_PUBLISHERS:
        out.append(f"{where}: publisher.kind {kind!r} is not one of {ALARM_PUBLISHERS}")
    elif kind == "logMetricFilter":
        for key in ("logGroup", "filterPattern", "metricValue"):
            if not isinstance(alarm.publisher.get(key), str) or not alarm.publisher[key]:
                out.append(f"{where}: publisher.{key} is required for a logMetricFilter")
        transformer = alarm.publisher.get("transformer")
        if transformer is not None and (not isinstance(transformer, list) or not transformer):
            out.append(f"{where}: publisher.transformer must list the log group's processors")
        if alarm.publisher.get("applyOnTransformedLogs") and not transformer:
            out.append(f"{where}: publisher.applyOnTransformedLogs needs a transformer "
                       "(CloudWatch Logs refuses it on a group without one)")  # fmt: skip
    elif kind == "probe" and alarm.publisher.get("check") not in PROBE_CHECKS:
        out.append(f"{where}: publisher.check must be one of {PROBE_CHECKS}")
    elif kind == "function" and alarm.publisher.get("function") not in spec.functions:
        out.append(f"{where}: publisher.function names no function in functions/")
    elif kind in ("aws", "external") and not str(alarm.publisher.get("by", "")).strip():
        out.append(f"{where}: publisher.by must say who publishes the metric")
    return out


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise SpecError(f"{path}: invalid JSON: {exc}") from exc


def _load_function(path: Path) -> FunctionSpec:
    meta_path = path / "function.json"
    meta = _read_json(meta_path) if meta_path.exists() else {}
    raw_tables = meta.get("tables", ())
    access = (
        {str(t): str(a) for t, a in raw_tables.items()}
        if isinstance(raw_tables, dict)
        else {str(t): "write" for t in raw_tables}
    )
    bad = {t: a for t, a in access.items() if a not in ("read", "write")}
    if bad:
        raise SpecError(f"{meta_path}: tables: access must be read or write, got {bad}")
    return FunctionSpec(
        name=path.name,
        path=path,
        handler=meta.get("handler", "app.handler"),
        description=meta.get("description", ""),
        timeout_seconds=int(meta.get("timeoutSeconds", 30)),
        memory_mb=int(meta.get("memoryMb", 256)),
        tables=tuple(access),
        table_access=access,
        topics=tuple(meta.get("topics", ())),
        permissions=(*meta.get("permissions", ()), *_grant_sets(meta_path, meta)),
        buckets=dict(meta.get("buckets", {})),
        pass_roles=tuple(meta.get("passRoles", ())),
        **_reserved_concurrency(f"{path.parent.name}/{path.name}", meta.get("reservedConcurrency")),
    )


def _grant_sets(meta_path: Path, meta: dict[str, Any]) -> list[dict[str, Any]]:
    """function.json `grantSets`: names of `functions/grant_sets/<name>.json`, each a list of
    `permissions` several functions need alike (written once, granted to each)."""
    out: list[dict[str, Any]] = []
    for name in meta.get("grantSets", ()):
        path = meta_path.parents[2] / "grant_sets" / f"{name}.json"
        if not path.exists():
            raise SpecError(f"{meta_path}: grantSets: no {path.relative_to(ROOT)}")
        out += _read_json(path)["permissions"]
    return out


def _reserved_concurrency(function: str, raw: Any) -> dict[str, Any]:
    """function.json `reservedConcurrency`: {"executions": <int >= 1>, "why": <the limit>}."""
    if raw is None:
        return {}
    where = f"functions/{function}/function.json field 'reservedConcurrency'"
    executions = raw.get("executions") if isinstance(raw, dict) else None
    if not isinstance(executions, int) or isinstance(executions, bool) or executions < 1:
        raise SpecError(f"{where}: must be {{\"executions\": <integer >= 1>, \"why\": ...}}, "
                        f"got {raw!r}")  # fmt: skip
    why = raw.get("why")
    if not isinstance(why, str) or not why.strip():
        raise SpecError(f"{where}: no 'why' (the runbook limit the reservation enforces)")
    return {"reserved_concurrency": executions, "reserved_concurrency_why": why.strip()}


def _load_schedule(path: Path) -> ScheduleSpec:
    raw = _read_json(path)
    for key in ("scheduleExpression", "timezone", "target"):
        if key not in raw:
            raise SpecError(f"{path.name}: missing field {key!r}")
    target = raw["target"]
    if "workflow" not in target:
        raise SpecError(f"{path.name}: missing field 'target.workflow'")
    if not isinstance(target.get("input", {}), dict):
        raise SpecError(f"{path.name}: 'target.input' must be a JSON object")
    return ScheduleSpec(
        name=path.stem,
        path=path,
        description=raw.get("description", ""),
        expression=raw["scheduleExpression"],
        timezone=raw["timezone"],
        workflow=target["workflow"],
        input=dict(target.get("input", {})),
        catalog=tuple(raw.get("catalog", ())),
        enabled=raw.get("state", "ENABLED") == "ENABLED",
    )


def _load_rule(path: Path) -> RuleSpec:
    raw = _read_json(path)
    name = path.stem
    for key in ("eventPattern", "target"):
        if key not in raw:
            raise SpecError(f"{path.name}: missing field {key!r}")
    target = raw["target"]
    if "workflow" not in target:
        raise SpecError(f"{path.name}: missing field 'target.workflow'")
    return RuleSpec(
        name=name,
        path=path,
        description=raw.get("description", ""),
        event_bus=raw.get("eventBus", "default"),
        event_pattern=raw["eventPattern"],
        workflow=target["workflow"],
        input_transformer=target.get("inputTransformer"),
        catalog=tuple(raw.get("catalog", ())),
    )


def _load_workflow(path: Path) -> WorkflowSpec:
    text = path.read_text()
    name = path.name.removesuffix(".asl.json")
    return WorkflowSpec(
        name=name,
        path=path,
        definition_text=text,
        placeholders=frozenset(PLACEHOLDER.findall(text)),
    )


def _load_domain(path: Path) -> DomainSpec:
    where = f"state_machines/domains/{path.name}"
    if not DOMAIN_NAME.match(path.stem) or path.stem == CORE:
        raise SpecError(f"{where}: a domain name is lowercase letters and digits "
                        f"(2-24, not {CORE!r}), got {path.stem!r}")  # fmt: skip
    raw = _read_json(path)
    workflows = raw.get("workflows") if isinstance(raw, dict) else None
    if not isinstance(workflows, list) or not all(isinstance(w, str) for w in workflows):
        raise SpecError(f"{where}: field 'workflows' must be a list of workflow names")
    return DomainSpec(
        name=path.stem,
        path=path,
        description=str(raw.get("description", "")),
        workflows=tuple(workflows),
    )


def _load_alarm(path: Path, root: Path) -> AlarmSpec:
    where = f"events/alarms/{path.name}"
    raw = _read_json(path)
    if not isinstance(raw, dict):
        raise SpecError(f"{where}: must be a JSON object")
    numbers = raw
    defined_in = None
    if "definedIn" in raw:
        # The numbers are kept where the functions read them at run time (the layer).
        defined_in = root / str(raw["definedIn"])
        if not defined_in.is_file():
            raise SpecError(f"{where}: field 'definedIn' names {raw['definedIn']!r}, no file")
        numbers = {**_read_json(defined_in), **raw}
    for key in ("rule", "metric", "statistic", "periodSeconds", "evaluationPeriods",
                "datapointsToAlarm", "comparisonOperator", "threshold", "treatMissingData",
                "publisher", "why"):  # fmt: skip
        if key not in numbers:
            raise SpecError(f"{where}: missing field {key!r}")
    metric = numbers["metric"]
    if not isinstance(metric, dict) or not {"namespace", "name"} <= metric.keys():
        raise SpecError(f"{where}: field 'metric' needs 'namespace' and 'name'")
    dimensions = metric.get("dimensions", {})
    if not isinstance(dimensions, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in dimensions.items()
    ):
        raise SpecError(f"{where}: field 'metric.dimensions' must map names to text")
    publisher = numbers["publisher"]
    if not isinstance(publisher, dict):
        raise SpecError(f"{where}: field 'publisher' must be an object with a 'kind'")
    try:
        return AlarmSpec(
            name=path.stem,
            path=path,
            rule=str(numbers["rule"]),
            alarm_name=str(numbers.get("alarmName", path.stem)),
            description=str(numbers.get("description", "")),
            why=str(numbers["why"]),
            namespace=str(metric["namespace"]),
            metric_name=str(metric["name"]),
            dimensions=dict(dimensions),
            statistic=str(numbers["statistic"]),
            period=int(numbers["periodSeconds"]),
            evaluation_periods=int(numbers["evaluationPeriods"]),
            datapoints_to_alarm=int(numbers["datapointsToAlarm"]),
            comparison=str(numbers["comparisonOperator"]),
            threshold=float(numbers["threshold"]),
            treat_missing_data=str(numbers["treatMissingData"]),
            publisher=dict(publisher),
            unit=numbers.get("unit"),
            variables=tuple(numbers.get("variables", ())),
            instances_context=str(numbers.get("instancesContext", CTX_ALARM_INSTANCES)),
            defined_in=defined_in,
            deployed_by=numbers.get("deployedBy"),
        )
    except (TypeError, ValueError) as exc:
        raise SpecError(f"{where}: {exc}") from exc


#: The layer's folder under functions/: not a domain, no function.
LAYER_FOLDER = "shared"


def function_files(root: Path) -> list[Path]:
    """`functions/<domain>/<function>/app.py`, domain by domain: where a function lives says
    which domain it belongs to; no list names them."""
    found = sorted((root / "functions").glob("*/*/app.py"))
    return [p for p in found if p.parent.parent.name != LAYER_FOLDER]


def load(root: Path = ROOT) -> Spec:
    functions = {p.parent.name: _load_function(p.parent) for p in function_files(root)}
    rules = {p.stem: _load_rule(p) for p in sorted((root / "events" / "rules").glob("*.json"))}
    schedules = {
        p.stem: _load_schedule(p) for p in sorted((root / "events" / "schedules").glob("*.json"))
    }
    workflows = {
        wf.name: wf
        for wf in (_load_workflow(p) for p in sorted((root / "state_machines").glob("*.asl.json")))
    }
    domains = {
        p.stem: _load_domain(p)
        for p in sorted((root / "state_machines" / "domains").glob("*.json"))
    }
    alarms = {
        p.stem: _load_alarm(p, root) for p in sorted((root / "events" / "alarms").glob("*.json"))
    }
    return Spec(
        root=root,
        functions=functions,
        rules=rules,
        workflows=workflows,
        schedules=schedules,
        domains=domains,
        alarms=alarms,
    )
