"""The Lambda remediators: one function per `functions/<domain>/<name>/`, the shared layer, and
least-privilege roles built only from each function's `function.json`."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any, cast

import jsii
from aws_cdk import BundlingOptions, Duration, Fn, ILocalBundling
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from . import bundle, nag
from .buckets import DataBuckets
from .spec import LAMBDA_PYTHON, LAMBDA_RUNTIME, TABLES, FunctionSpec, Spec, SpecError
from .storage import Storage

#: spec.LAMBDA_RUNTIME as the CDK's Runtime (one version for the functions, the layers, the
#: wheels and the local runtime).
RUNTIME = next(r for r in lambda_.Runtime.ALL if r.name == LAMBDA_RUNTIME)
ARCHITECTURE = lambda_.Architecture.ARM_64
#: The glibc of the runtime's OS (AWS Lambda runtimes: python3.11 runs on Amazon Linux 2, the
#: newer ones on Amazon Linux 2023): a wheel built for a newer glibc does not load there.
RUNTIME_GLIBC: dict[str, tuple[int, int]] = {
    "python3.11": (2, 26),
    "python3.12": (2, 34),
    "python3.13": (2, 34),
    "python3.14": (2, 34),
}
LAMBDA_GLIBC = RUNTIME_GLIBC[LAMBDA_RUNTIME]
RUNTIME_REASON = (
    f"{LAMBDA_RUNTIME} is the Python the test suite runs the handlers on (CI's, Debian "
    "bookworm's; tests/cdk/test_runtime.py holds the two equal), supported by Lambda until "
    "30 June 2027; a newer runtime comes with moving the suite to that Python."
)
LOG_RETENTION = logs.RetentionDays.THREE_MONTHS
ASSET_EXCLUDES = ["**/__pycache__", "**/*.pyc", "function.json", "tests"]
DESCRIPTION_MAX = 256
#: Some discovery calls (lambda:ListFunctions, s3:ListAllMyBuckets, ...) exist only on `*`;
#: reading is allowed there, acting never is.
READ_ONLY_VERBS: tuple[str, ...] = ("List", "Get", "Describe")
#: Actions AWS authorises only on Resource "*" (no resource-level permissions exist): writes,
#: and reads not named List/Get/Describe (cloudtrail:LookupEvents).
NO_RESOURCE_ACTIONS = frozenset(
    {"iot:CreateCertificateFromCsr", "cloudwatch:PutMetricData", "cloudtrail:LookupEvents"}
)
SYNC_ONLY_REASON = (
    "Only invoked synchronously (RequestResponse) by Step Functions tasks, whose Retry/Catch "
    "handle a failure and escalate; a Lambda dead-letter queue only receives failed "
    "asynchronous invocations, so it would never receive anything."
)


#: Where pip finds wheels for the Lambda platform: arm64, the runtime's CPython, a manylinux
#: glibc no newer than the runtime's (manylinux2014 is manylinux_2_17).
PIP_PLATFORM = (
    *(arg for minor in range(LAMBDA_GLIBC[1], 16, -1)
      for arg in ("--platform", f"manylinux_{LAMBDA_GLIBC[0]}_{minor}_aarch64")),
    "--platform", "manylinux2014_aarch64", "--implementation", "cp",
    "--python-version", LAMBDA_PYTHON, "--only-binary=:all:",
)  # fmt: skip
#: Environment of a function that passes the SageMaker training role.
TRAINING_ROLE_ENV, TRAINING_IMAGE_ENV = "SELFHEAL_TRAINING_ROLE_ARN", "SELFHEAL_TRAINING_IMAGE"


#: Where a layer's Python packages go (Lambda puts `/opt/python` on sys.path).
LAYER_PYTHON = "python"


@jsii.implements(ILocalBundling)
class PipBundling:
    """Bundle a requirements set without Docker: `pip install --target <asset>/python` the
    Lambda platform's wheels (pydantic-core and wrapt are native code). `requirements` is a
    whole set (`bundle.closure`), so pip installs exactly it (`--no-deps`) and resolves
    nothing; `--constraint constraints.txt` refuses any pin that is not the suite's. CDK falls
    back to the Docker bundling image when this returns False."""

    def __init__(self, requirements: Path, constraints: Path = bundle.CONSTRAINTS) -> None:
        self.requirements, self.constraints = requirements, constraints

    def command(self, output_dir: str) -> list[str]:
        return [sys.executable, "-m", "pip", "install", "--quiet", "--no-compile", "--no-deps",
                "--requirement", str(self.requirements),
                "--constraint", str(self.constraints),
                "--target", str(Path(output_dir) / LAYER_PYTHON), *PIP_PLATFORM]  # fmt: skip

    def try_bundle(self, output_dir: str, *args: Any, **options: Any) -> bool:
        return subprocess.run(self.command(output_dir), check=False).returncode == 0


def requirement_set(requirements: Path) -> tuple[str, ...]:
    """The pins of a requirements.txt, sorted, without comments: two functions asking for
    the same packages share one bundle whatever their comments or order say."""
    lines = (line.split("#", 1)[0].strip() for line in requirements.read_text().splitlines())
    return tuple(sorted({line for line in lines if line}))


def requirements_id(pins: tuple[str, ...]) -> str:
    return hashlib.sha256("\n".join(pins).encode()).hexdigest()[:12]


def function_code(fn: FunctionSpec) -> lambda_.Code:
    """The function's own folder; its third-party packages come in its requirements layer."""
    return lambda_.Code.from_asset(str(fn.path), exclude=[*ASSET_EXCLUDES, "requirements.txt"])


def requirements_code(pins: tuple[str, ...]) -> lambda_.AssetCode:
    """One requirements set and everything it needs on Lambda (`bundle.closure`: every
    package at its constraints.txt pin), pip-installed once into a layer (skipped when the
    `aws:cdk:bundling-stacks` context excludes the stack, as the tests do). The staged
    folder holds only that whole pinned set, so the asset hash changes with any of its pins."""
    stage = Path(tempfile.mkdtemp(prefix="selfheal-requirements-"))
    requirements = stage / "requirements.txt"
    requirements.write_text("".join(f"{pin}\n" for pin in bundle.closure(pins)))
    return lambda_.Code.from_asset(
        str(stage),
        bundling=BundlingOptions(
            image=RUNTIME.bundling_image,
            platform="linux/arm64",
            command=["bash", "-c", "pip install --no-deps -r requirements.txt "
                     f"-t /asset-output/{LAYER_PYTHON}"],
            local=PipBundling(requirements),
        ),
    )  # fmt: skip


def staged_layer(spec: Spec) -> Path:
    """The shared layer plus every published input schema (`state_machines/<workflow>
    .input.schema.json` -> `selfheal_shared/schemas/`), so a function validates manual input
    against the very file published next to the workflow, and the escalation policies
    (`events/escalation/` -> `selfheal_shared/escalation/`), and the automations' configuration
    (`config/` -> `selfheal_shared/config/`)."""
    stage = Path(tempfile.mkdtemp(prefix="selfheal-layer-"))
    shutil.copytree(spec.layer_path, stage, dirs_exist_ok=True,
                    ignore=shutil.ignore_patterns(*ASSET_EXCLUDES))  # fmt: skip
    schemas = stage / "python" / "selfheal_shared" / "schemas"
    schemas.mkdir(parents=True, exist_ok=True)
    for wf in spec.workflows.values():
        if wf.input_schema is not None:
            shutil.copy2(wf.input_schema, schemas / wf.input_schema.name)
    # Each system's escalation policy, read by the escalation engine at run time.
    shutil.copytree(spec.root / "events" / "escalation", schemas.parent / "escalation")
    # The automations' configuration (config/*.json but the examples), e.g. cost hygiene's.
    config = schemas.parent / "config"
    config.mkdir(exist_ok=True)
    for file in sorted((spec.root / "config").glob("*.json")):
        if not file.name.endswith(".example.json"):
            shutil.copy2(file, config / file.name)
    return stage


def env_name(kind: str, name: str) -> str:
    """`SELFHEAL_TABLE_GUARD_STATE`, `SELFHEAL_TOPIC_OPS`: what `selfheal_shared.core.config`
    reads."""
    return f"SELFHEAL_{kind.upper()}_{name.upper()}"


def permission_statement(fn: FunctionSpec, entry: Mapping[str, Any]) -> iam.PolicyStatement:
    """One `permissions` entry of function.json as an IAM statement, refusing wildcards:
    an empty target, a `*` action or a write on `*` is an error, never "everything"."""
    where = f"{fn.where}/function.json permissions"
    actions, resources = list(entry.get("actions") or ()), list(entry.get("resources") or ())
    if not actions or not resources:
        raise SpecError(f"{where}: every entry needs non-empty 'actions' and 'resources'")
    if not entry.get("why"):
        raise SpecError(f"{where}: entry {actions} has no 'why'")
    for action in actions:
        if action == "*" or action.endswith(":*"):
            raise SpecError(f"{where}: wildcard action {action!r}")
    writes = [
        a
        for a in actions
        if not a.split(":", 1)[-1].startswith(READ_ONLY_VERBS) and a not in NO_RESOURCE_ACTIONS
    ]
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


def dead_letter_async_failures(function: lambda_.IFunction, queue: sqs.IQueue) -> None:
    """For a function something invokes asynchronously (an IoT rule, an EventBridge rule, a
    Scheduler schedule): the event it still fails on after Lambda's retries goes to `queue`
    (its depth alarm pages ops) instead of being dropped."""
    cfn = cast(lambda_.CfnFunction, function.node.default_child)
    cfn.dead_letter_config = lambda_.CfnFunction.DeadLetterConfigProperty(
        target_arn=queue.queue_arn
    )
    if function.role is None:
        raise SpecError(f"{function.node.path}: a dead-letter queue needs the function's role")
    queue.grant_send_messages(function.role)


def has_dead_letter_queue(function: lambda_.IFunction) -> bool:
    return cast(lambda_.CfnFunction, function.node.default_child).dead_letter_config is not None


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


class Layers(Construct):
    """The layers every stack's functions share, built once (in the core stack): Powertools
    (with boto3 and pydantic), the shared library, and one layer per distinct requirements
    set, so each set is bundled once."""

    def __init__(self, scope: Construct, construct_id: str, *, spec: Spec) -> None:
        super().__init__(scope, construct_id)
        #: each bundled layer and the staged requirements.txt pip installs into it.
        self.bundled: list[tuple[lambda_.LayerVersion, Path]] = []
        runtime = bundle.runtime_requirements()
        self.powertools = self._bundled(
            "PowertoolsLayer",
            runtime,
            ("selfheal runtime: " + " ".join(runtime))[:DESCRIPTION_MAX],
        )
        self.shared = lambda_.LayerVersion(
            self,
            "SharedLayer",
            code=lambda_.Code.from_asset(str(staged_layer(spec)), exclude=ASSET_EXCLUDES),
            compatible_runtimes=[RUNTIME],
            compatible_architectures=[ARCHITECTURE],
            description="selfheal_shared: guards, audit, notify, models used by every remediator",
        )
        #: requirements set -> its layer: one bundle per distinct set, not per function.
        self.requirements: dict[tuple[str, ...], lambda_.LayerVersion] = {}
        for fn in spec.functions.values():
            pins = pins_of(fn)
            if pins and pins not in self.requirements:
                self.requirements[pins] = self._bundled(
                    f"Requirements-{requirements_id(pins)}",
                    pins,
                    ("selfheal requirements: " + " ".join(pins))[:DESCRIPTION_MAX],
                )

    def _bundled(
        self, construct_id: str, pins: tuple[str, ...], description: str
    ) -> lambda_.LayerVersion:
        """A layer of `pins` and what they need (`requirements_code`), recorded in `bundled`."""
        code = requirements_code(pins)
        layer = lambda_.LayerVersion(
            self,
            construct_id,
            code=code,
            compatible_runtimes=[RUNTIME],
            compatible_architectures=[ARCHITECTURE],
            description=description,
        )
        self.bundled.append((layer, Path(code.path) / "requirements.txt"))
        return layer

    def of(self, fn: FunctionSpec) -> list[lambda_.ILayerVersion]:
        """The function's requirements layer, if it has pins."""
        pins = pins_of(fn)
        return [self.requirements[pins]] if pins else []


def pins_of(fn: FunctionSpec) -> tuple[str, ...]:
    return requirement_set(fn.requirements) if fn.requirements is not None else ()


class Remediators(Construct):
    """The remediators a stack deploys, each with its own role and log group."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        functions: Mapping[str, FunctionSpec],
        layers: Layers,
        storage: Storage,
        topics: Mapping[str, sns.ITopic],
        dry_run: bool,
        buckets: DataBuckets | None = None,
        pass_roles: Mapping[str, iam.IRole] | None = None,
        training_image: str = "",
    ) -> None:
        super().__init__(scope, construct_id)
        self._storage, self._topics, self._layers = storage, topics, layers
        self._dry_run = dry_run
        self._buckets, self._pass_roles = buckets, dict(pass_roles or {})
        self._training_image = training_image
        self.functions: dict[str, lambda_.Function] = {
            name: self._function(fn) for name, fn in functions.items()
        }

    def _function(self, fn: FunctionSpec) -> lambda_.Function:
        scope = Construct(self, fn.name)
        role = iam.Role(
            scope,
            "Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description=f"selfheal {fn.name}: only what {fn.where}/function.json asks for",
        )
        log_group = logs.LogGroup(scope, "Logs", retention=LOG_RETENTION)
        function = lambda_.Function(
            scope,
            "Function",
            code=function_code(fn),
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
            # Only where function.json asks for it (a runbook's limit on how many may run at
            # once): every reservation is taken from the account's unreserved pool.
            reserved_concurrent_executions=fn.reserved_concurrency,
            # A later layer's files win (the same pins anyway: every bundle is constraints.txt's).
            layers=[self._layers.powertools, self._layers.shared, *self._layers.of(fn)],
            environment=self._environment(fn),
        )
        for rule in ("Serverless-LambdaLatestVersion", "AwsSolutions-L1"):
            nag.acknowledge(cast(lambda_.CfnFunction, function.node.default_child), rule,
                            RUNTIME_REASON)  # fmt: skip
        log_group.grant_write(role)
        self._grant(fn, role)
        return function

    def _environment(self, fn: FunctionSpec) -> dict[str, str]:
        # Every table name (settings() reads all three); only the topics the function may use.
        env = {env_name("table", t): self._storage.tables[t].table_name for t in TABLES}
        env |= {env_name("topic", t): self._topics[t].topic_arn for t in fn.topics}
        if self._buckets is not None:
            env |= {env_name("bucket", b): self._buckets.buckets[b].bucket_name for b in fn.buckets}
        if "sagemaker_training" in fn.pass_roles:
            env[TRAINING_ROLE_ENV] = self._pass_roles["sagemaker_training"].role_arn
            env[TRAINING_IMAGE_ENV] = self._training_image
        env |= {
            "SELFHEAL_DRY_RUN": "true" if self._dry_run else "false",
            "POWERTOOLS_SERVICE_NAME": "selfheal",
            "POWERTOOLS_METRICS_NAMESPACE": "selfheal",
        }
        return env

    def _grant(self, fn: FunctionSpec, role: iam.Role) -> None:
        for table in fn.tables:
            self._storage.grant(table, role, read_only=fn.table_access.get(table) == "read")
        findings: list[tuple[str, str]] = [("Resource::*", nag.XRAY_REASON)]
        for topic in fn.topics:
            self._topics[topic].grant_publish(role)
        if fn.topics:
            findings.append(("Action::kms:GenerateDataKey*", nag.KMS_REASON))
        for bucket, access in fn.buckets.items():
            if self._buckets is None:
                raise SpecError(f"{fn.where}: uses bucket {bucket!r}; no buckets given")
            findings += [
                (finding, f"{fn.name}: {why}")
                for finding, why in self._buckets.grant(bucket, role, access)
            ]
        for name in fn.pass_roles:
            role.add_to_policy(
                iam.PolicyStatement(
                    actions=["iam:PassRole"],
                    resources=[self._pass_roles[name].role_arn],
                    conditions={"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}},
                )
            )
        for entry in fn.permissions:
            role.add_to_policy(permission_statement(fn, entry))
            findings += [
                (nag.nag_resource(r), f"{fn.name}: {entry['why']}")
                for r in entry["resources"]
                if "*" in r
            ]
        nag.acknowledge_iam5(role, findings)
