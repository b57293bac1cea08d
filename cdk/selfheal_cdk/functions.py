"""The Lambda remediators: one function per `functions/<name>/`, the shared layer, and
least-privilege roles built only from each function's `function.json`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aws_cdk import Duration, Fn
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sns as sns
from aws_cdk import aws_ssm as ssm
from constructs import Construct

from . import nag
from .spec import TABLES, FunctionSpec, Spec, SpecError
from .storage import Storage

RUNTIME = lambda_.Runtime.PYTHON_3_12
ARCHITECTURE = lambda_.Architecture.ARM_64
#: AWS publishes the Powertools layer ARN here for every region; no account id in our code.
POWERTOOLS_PARAMETER = "/aws/service/powertools/python/arm64/python3.12/3.37.0"
LOG_RETENTION = logs.RetentionDays.THREE_MONTHS
ASSET_EXCLUDES = ["**/__pycache__", "**/*.pyc", "function.json", "tests"]
DESCRIPTION_MAX = 256
#: Some discovery calls (lambda:ListFunctions, s3:ListAllMyBuckets, ...) exist only on `*`;
#: reading is allowed there, acting never is.
READ_ONLY_VERBS: tuple[str, ...] = ("List", "Get", "Describe")
RUNTIME_REASON = (
    "python3.12 on purpose: the Powertools layer is resolved from its python3.12 parameter and "
    "the remediators are tested on that runtime; moving up is a deliberate change (RUNTIME)."
)


def env_name(kind: str, name: str) -> str:
    """`SELFHEAL_TABLE_GUARD_STATE`, `SELFHEAL_TOPIC_OPS`: what `selfheal_shared.config` reads."""
    return f"SELFHEAL_{kind.upper()}_{name.upper()}"


def permission_statement(fn: FunctionSpec, entry: Mapping[str, Any]) -> iam.PolicyStatement:
    """One `permissions` entry of function.json as an IAM statement, refusing wildcards:
    an empty target, a `*` action or a write on `*` is an error, never "everything"."""
    where = f"functions/{fn.name}/function.json permissions"
    actions, resources = list(entry.get("actions") or ()), list(entry.get("resources") or ())
    if not actions or not resources:
        raise SpecError(f"{where}: every entry needs non-empty 'actions' and 'resources'")
    if not entry.get("why"):
        raise SpecError(f"{where}: entry {actions} has no 'why'")
    for action in actions:
        if action == "*" or action.endswith(":*"):
            raise SpecError(f"{where}: wildcard action {action!r}")
    writes = [a for a in actions if not a.split(":", 1)[-1].startswith(READ_ONLY_VERBS)]
    for resource in resources:
        if resource.strip() in {"*", "arn:*", "arn:${AWS::Partition}:*"} and writes:
            raise SpecError(
                f"{where}: resource {resource!r} is a wildcard; only read-only "
                f"{'/'.join(READ_ONLY_VERBS)} actions may use it, not {writes}"
            )
    return iam.PolicyStatement(
        actions=actions,
        resources=[_sub(r) for r in resources],
        conditions=_sub(entry["condition"]) if entry.get("condition") else None,
    )


def _sub(value: Any) -> Any:
    """Resolve `${AWS::Partition}`-style parameters in a string, or in every string of a
    condition block, the way CloudFormation's Fn::Sub does."""
    if isinstance(value, str):
        return Fn.sub(value) if "${" in value else value
    if isinstance(value, list):
        return [_sub(v) for v in value]
    if isinstance(value, dict):
        return {k: _sub(v) for k, v in value.items()}
    return value


class Remediators(Construct):
    """Every remediator the spec finds, each with its own role and log group."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        spec: Spec,
        storage: Storage,
        topics: Mapping[str, sns.ITopic],
        dry_run: bool,
        reserved_concurrency: int,
    ) -> None:
        super().__init__(scope, construct_id)
        self._storage, self._topics = storage, topics
        self._dry_run, self._reserved = dry_run, reserved_concurrency
        self.shared_layer = lambda_.LayerVersion(
            self,
            "SharedLayer",
            code=lambda_.Code.from_asset(str(spec.layer_path), exclude=ASSET_EXCLUDES),
            compatible_runtimes=[RUNTIME],
            compatible_architectures=[ARCHITECTURE],
            description="selfheal_shared: guards, audit, notify, models used by every remediator",
        )
        self.powertools_layer = lambda_.LayerVersion.from_layer_version_arn(
            self,
            "PowertoolsLayer",
            ssm.StringParameter.value_for_string_parameter(self, POWERTOOLS_PARAMETER),
        )
        self.functions: dict[str, lambda_.Function] = {
            name: self._function(fn) for name, fn in spec.functions.items()
        }

    def _function(self, fn: FunctionSpec) -> lambda_.Function:
        scope = Construct(self, fn.name)
        role = iam.Role(
            scope,
            "Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description=f"selfheal {fn.name}: only what functions/{fn.name}/function.json asks for",
        )
        log_group = logs.LogGroup(scope, "Logs", retention=LOG_RETENTION)
        function = lambda_.Function(
            scope,
            "Function",
            code=lambda_.Code.from_asset(str(fn.path), exclude=ASSET_EXCLUDES),
            handler=fn.handler,
            runtime=RUNTIME,
            architecture=ARCHITECTURE,
            description=(fn.description or f"selfheal {fn.name}")[:DESCRIPTION_MAX],
            timeout=Duration.seconds(fn.timeout_seconds),
            memory_size=fn.memory_mb,
            tracing=lambda_.Tracing.ACTIVE,
            role=role,
            log_group=log_group,
            logging_format=lambda_.LoggingFormat.JSON,
            reserved_concurrent_executions=self._reserved,
            layers=[self.powertools_layer, self.shared_layer],
            environment=self._environment(fn),
        )
        log_group.grant_write(role)
        self._grant(fn, role)
        nag.acknowledge(function, "AwsSolutions-L1", RUNTIME_REASON)
        return function

    def _environment(self, fn: FunctionSpec) -> dict[str, str]:
        # Every table name (settings() reads all three); only the topics the function may use.
        env = {env_name("table", t): self._storage.tables[t].table_name for t in TABLES}
        env |= {env_name("topic", t): self._topics[t].topic_arn for t in fn.topics}
        env |= {
            "SELFHEAL_DRY_RUN": "true" if self._dry_run else "false",
            "POWERTOOLS_SERVICE_NAME": "selfheal",
            "POWERTOOLS_METRICS_NAMESPACE": "selfheal",
        }
        return env

    def _grant(self, fn: FunctionSpec, role: iam.Role) -> None:
        for table in fn.tables:
            self._storage.grant(table, role)
        findings: list[tuple[str, str]] = [("Resource::*", nag.XRAY_REASON)]
        for topic in fn.topics:
            self._topics[topic].grant_publish(role)
        if fn.topics:
            findings.append(("Action::kms:GenerateDataKey*", nag.KMS_REASON))
        for entry in fn.permissions:
            role.add_to_policy(permission_statement(fn, entry))
            findings += [
                (nag.nag_resource(r), f"{fn.name}: {entry['why']}")
                for r in entry["resources"]
                if "*" in r
            ]
        nag.acknowledge_iam5(role, findings)
