"""The selfheal stacks: a core stack and one stack per domain, wired from `spec.load()`.

Nothing here lists automations or domains: adding a rule, a workflow, a function or a
domain (`state_machines/domains/<domain>.json`) is adding files. CloudFormation caps a
template at 500 resources and 1 MB; one stack per domain keeps each far below.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from aws_cdk import App, Stack, Tags
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sqs as sqs
from aws_cdk import aws_ssm as ssm
from constructs import Construct
from selfheal_shared.ingestion import ingestion_documents
from selfheal_shared.services import check_document

from . import nag
from .alarms import PROBE, Alarms, Instances, ProbeSchedule, parse_instances
from .alerting import Alerting
from .buckets import DataBuckets
from .forecast_accuracy import PUBLISHER, ForecastAccuracy
from .functions import SYNC_ONLY_REASON, Layers, Remediators, has_dead_letter_queue
from .iot import EdgeIoT
from .page_ack_url import FUNCTION as PAGE_ACK
from .page_ack_url import URL_ONLY_REASON, PageAckUrl
from .routing import Buses, DeadLetters, Routing
from .schedules import Schedules
from .spec import (
    BUCKETS,
    CORE,
    CTX_ALARM_INSTANCES,
    ROOT,
    TABLES,
    TOPICS,
    FunctionSpec,
    Spec,
    SpecError,
    load,
)
from .storage import Storage
from .subscriptions import Subscriptions
from .subscriptions import load as load_subscriptions
from .training import TrainingJobs
from .workflows import Workflows

STACK_ID = "Selfheal"
CDK_JSON = ROOT / "cdk.json"
CTX_DRY_RUN = "selfheal:dryRun"
#: Retired: one reservation for every function (5 x 71) did not deploy in an account with a
#: low concurrency quota; a function that needs one says so in its function.json.
CTX_RESERVED_CONCURRENCY = "selfheal:reservedConcurrency"
CTX_TRAINING_IMAGE_TAG = "selfheal:trainingImageTag"
#: Comma-separated ids of the systems whose forecast accuracy is alarmed (one alarm each).
CTX_FORECAST_SYSTEMS = "selfheal:forecastSystems"
#: A JSON file of who is behind each page topic (subscriptions.py); relative to the repo.
CTX_SUBSCRIPTIONS = "selfheal:subscriptions"
SYSTEM_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


@dataclass(frozen=True)
class DeploySettings:
    """Choices made at deploy time with `-c key=value`, validated so a typo cannot arm it."""

    dry_run: bool = True
    training_image_tag: str = "latest"
    forecast_systems: tuple[str, ...] = ()
    #: The instances of templated alarm definitions (`selfheal:alarmInstances`, alarms.py).
    alarm_instances: Instances = field(default_factory=dict)
    #: None when no file is configured: the topics are created with nobody behind them.
    subscriptions: Subscriptions | None = None

    @classmethod
    def from_context(cls, scope: Construct, spec: Spec | None = None) -> DeploySettings:
        raw_dry = _context(scope, CTX_DRY_RUN, cls.dry_run).lower()
        if raw_dry not in {"true", "false"}:
            raise ValueError(f"context {CTX_DRY_RUN} must be 'true' or 'false', got {raw_dry!r}")
        if scope.node.try_get_context(CTX_RESERVED_CONCURRENCY) is not None:
            raise ValueError(
                f"context {CTX_RESERVED_CONCURRENCY} is no longer read: reserved concurrency is "
                'set per function, in its function.json ("reservedConcurrency": '
                '{"executions": N, "why": ...}), only where a runbook limits concurrency'
            )
        tag = _context(scope, CTX_TRAINING_IMAGE_TAG, cls.training_image_tag)
        if not tag or any(c in tag for c in " /:@"):
            raise ValueError(f"context {CTX_TRAINING_IMAGE_TAG} must be an image tag, got {tag!r}")
        systems = tuple(
            s.strip() for s in _context(scope, CTX_FORECAST_SYSTEMS, "").split(",") if s.strip()
        )
        bad = [s for s in systems if not SYSTEM_ID.match(s)]
        if bad or len(set(systems)) != len(systems):
            raise ValueError(
                f"context {CTX_FORECAST_SYSTEMS} must be distinct system ids, got {systems!r}"
            )
        instances = (
            parse_instances(scope.node.try_get_context(CTX_ALARM_INSTANCES), spec) if spec else {}
        )
        configured = _context(scope, CTX_SUBSCRIPTIONS, "")
        return cls(
            dry_run=raw_dry == "true",
            training_image_tag=tag,
            forecast_systems=systems,
            alarm_instances=instances,
            subscriptions=load_subscriptions(ROOT / configured) if configured else None,
        )


def _context(scope: Construct, key: str, default: object) -> str:
    """A context value as text (`-c` gives strings, cdk.json may give JSON booleans)."""
    value = scope.node.try_get_context(key)
    return str(default if value is None else value).strip()


class CoreStack(Stack):
    """What every domain shares: tables, the topic key and topics, buckets, the training
    role, event buses, the layers, the functions several domains (or no workflow) call and
    what invokes those (IoT rules, the forecast accuracy publisher)."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        spec: Spec,
        settings: DeploySettings,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.spec, self.settings = spec, settings
        self.storage = Storage(self, "Storage", names=TABLES)
        self.alerting = Alerting(
            self, "Alerting", levels=TOPICS, subscriptions=settings.subscriptions
        )
        self.buckets = DataBuckets(self, "Buckets", kinds=BUCKETS)
        self.training = TrainingJobs(
            self, "Training", buckets=self.buckets, image_tag=settings.training_image_tag
        )
        self.layers = Layers(self, "Layers", spec=spec)
        self.buses = Buses(self, "Buses", spec=spec).buses
        self.dead_letters = DeadLetters(self, "DeadLetters", ops_topic=self.alerting.topics["ops"])
        placed = spec.placement()
        self.remediators = remediators(
            self, self, {n: f for n, f in spec.functions.items() if placed[n] == CORE}
        )
        attach_invokers(self, spec, settings, self.remediators.functions, self.dead_letters.queue)
        # The read-only checks of the described services (the checking functions may send
        # this document only): one definition, in the layer.
        ssm.CfnDocument(
            self,
            "ServiceCheckDocument",
            name=check_document.NAME,
            document_type="Command",
            document_format="JSON",
            update_method="NewVersion",
            content=check_document.content(),
        )
        # The ingestion failover's documents (runbook 004): parameters validated by SSM.
        for name, content in ingestion_documents.documents().items():
            ssm.CfnDocument(
                self,
                name.removeprefix("selfheal-") + "Document",
                name=name,
                document_type="Command",
                document_format="JSON",
                update_method="NewVersion",
                content=content,
            )
        Tags.of(self).add("project", "selfheal")


class DomainStack(Stack):
    """One domain's automations (`state_machines/domains/<domain>.json`): its workflows,
    their rules and schedules, the alarms those rules wait for (events/alarms/), the
    functions only they call; the rest it reads from core."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        domain: str,
        core: CoreStack,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        spec = core.spec.for_domain(domain)
        self.domain, self.spec, self.core = domain, spec, core
        topics = core.alerting.topics
        self.dead_letters = DeadLetters(self, "DeadLetters", ops_topic=topics["ops"])
        placed = core.spec.placement()
        self.remediators = remediators(
            self, core, {n: f for n, f in spec.functions.items() if placed[n] == domain}
        )
        #: what this domain's workflows may call: its own functions and the core's.
        self.functions = {**core.remediators.functions, **self.remediators.functions}
        self.workflows = Workflows(
            self,
            "Workflows",
            spec=spec,
            functions=self.functions,
            topics=topics,
            storage=core.storage,
            buckets=core.buckets,
        )
        self.routing = Routing(
            self,
            "Routing",
            spec=spec,
            state_machines=self.workflows.state_machines,
            ops_topic=topics["ops"],
            dead_letters=self.dead_letters.queue,
            buses=core.buses,
        )
        self.schedules = Schedules(
            self,
            "Schedules",
            spec=spec,
            state_machines=self.workflows.state_machines,
            dead_letters=self.dead_letters.queue,
        )
        # The alarms this domain's rules wait for, and the metric filters feeding them.
        self.alarms = Alarms(self, "Alarms", spec=spec, instances=core.settings.alarm_instances)
        attach_invokers(
            self, core.spec, core.settings, self.remediators.functions, self.dead_letters.queue
        )
        Tags.of(self).add("project", "selfheal")
        Tags.of(self).add("domain", domain)


def remediators(
    stack: Stack, core: CoreStack, functions: Mapping[str, FunctionSpec]
) -> Remediators:
    """A stack's functions, over the core's tables, topics, buckets and layers."""
    return Remediators(
        stack,
        "Remediators",
        functions=functions,
        layers=core.layers,
        storage=core.storage,
        topics=core.alerting.topics,
        dry_run=core.settings.dry_run,
        buckets=core.buckets,
        pass_roles={"sagemaker_training": core.training.role},
        training_image=core.training.image_uri,
    )


def attach_invokers(
    stack: Stack,
    spec: Spec,
    settings: DeploySettings,
    functions: Mapping[str, lambda_.Function],
    dead_letters: sqs.IQueue,
) -> None:
    """What invokes a function asynchronously lives in that function's stack (IoT rules, the
    accuracy publisher's and the service probe's schedules) and gives it a dead-letter
    queue; the other functions are only called by state machine tasks, where Lambda's DLQ
    does not apply."""
    if "edge_ingress" in functions:
        EdgeIoT(stack, "EdgeIoT", ingress=functions["edge_ingress"], dead_letters=dead_letters)
    if PUBLISHER in functions:
        ForecastAccuracy(
            stack,
            "ForecastAccuracy",
            spec=spec,
            systems=settings.forecast_systems,
            publisher=functions[PUBLISHER],
            dead_letters=dead_letters,
        )
    if PROBE in functions:
        ProbeSchedule(stack, "ServiceProbe", probe=functions[PROBE], dead_letters=dead_letters)
    if PAGE_ACK in functions:
        PageAckUrl(stack, "PageAck", function=functions[PAGE_ACK])
    for name, function in functions.items():
        if not has_dead_letter_queue(function):
            # On the function resource only (not its URL or permissions beneath it).
            nag.acknowledge(
                function.node.default_child or function,
                "Serverless-LambdaDLQ",
                URL_ONLY_REASON if name == PAGE_ACK else SYNC_ONLY_REASON,
            )


@dataclass(frozen=True)
class SelfhealApp:
    """The core stack and one stack per domain, as `build_app` made them."""

    core: CoreStack
    domains: dict[str, DomainStack]

    @property
    def stacks(self) -> list[Stack]:
        return [self.core, *self.domains.values()]


def cdk_json_context() -> dict[str, Any]:
    """cdk.json's context, so an app built outside the CLI (tests, `python cdk/app.py`)
    synthesizes exactly what `cdk synth` does."""
    return cast(dict[str, Any], json.loads(CDK_JSON.read_text()).get("context", {}))


def domain_stack_id(domain: str) -> str:
    return f"{STACK_ID}-{domain}"


def build_stacks(app: App, *, loaded: Spec | None = None) -> SelfhealApp:
    """The core stack and one stack per domain file, from the convention files (or
    `loaded`) and the app's context. Refuses a spec whose files disagree."""
    spec = loaded if loaded is not None else load()
    problems = spec.problems() + spec.domain_problems() + spec.alarm_problems()
    if problems:
        raise SpecError("the convention files disagree:\n  " + "\n  ".join(problems))
    core = CoreStack(
        app,
        STACK_ID,
        spec=spec,
        settings=DeploySettings.from_context(app, spec),
        description="selfheal core: tables, topics, buses, layers and shared remediators",
    )
    domains = {
        name: DomainStack(
            app,
            domain_stack_id(name),
            domain=name,
            core=core,
            description=f"selfheal {name}: {domain.description}"[:1024],
        )
        for name, domain in spec.domains.items()
    }
    return SelfhealApp(core=core, domains=domains)


def build_app(
    *,
    context: Mapping[str, Any] | None = None,
    outdir: str | Path | None = None,
    loaded: Spec | None = None,
) -> App:
    """An app with the stacks (see `build_stacks`) and the AWS Solutions and Serverless
    checks; `context` overrides cdk.json and the CLI's `-c` values (tests use it), `outdir`
    defaults to the CLI's choice."""
    app = App(
        context=cdk_json_context(),
        post_cli_context=dict(context or {}),
        outdir=str(outdir) if outdir else None,
    )
    build_stacks(app, loaded=loaded)
    nag.add_checks(app)
    return app


def built(app: App) -> SelfhealApp:
    """The stacks `build_app` put in `app`."""
    cores = [c for c in app.node.children if isinstance(c, CoreStack)]
    if len(cores) != 1:
        raise ValueError(f"expected one core stack in the app, found {len(cores)}")
    domains = {c.domain: c for c in app.node.children if isinstance(c, DomainStack)}
    return SelfhealApp(core=cores[0], domains=domains)
