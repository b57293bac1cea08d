"""The selfheal stack: wires the constructs together from what `spec.load()` finds.

Nothing here lists automations: adding a rule, a workflow or a function is adding files.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from aws_cdk import App, Stack, Tags
from constructs import Construct

from . import nag
from .alerting import Alerting
from .buckets import DataBuckets
from .forecast_accuracy import PUBLISHER, ForecastAccuracy
from .functions import SYNC_ONLY_REASON, Remediators, has_dead_letter_queue
from .iot import EdgeIoT
from .routing import Routing
from .schedules import Schedules
from .spec import BUCKETS, ROOT, TABLES, TOPICS, Spec, SpecError, load
from .storage import Storage
from .training import TrainingJobs
from .workflows import Workflows

STACK_ID = "Selfheal"
CDK_JSON = ROOT / "cdk.json"
CTX_DRY_RUN = "selfheal:dryRun"
CTX_RESERVED_CONCURRENCY = "selfheal:reservedConcurrency"
CTX_TRAINING_IMAGE_TAG = "selfheal:trainingImageTag"
#: Comma-separated ids of the systems whose forecast accuracy is alarmed (one alarm each).
CTX_FORECAST_SYSTEMS = "selfheal:forecastSystems"
SYSTEM_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


@dataclass(frozen=True)
class DeploySettings:
    """Choices made at deploy time with `-c key=value`, validated so a typo cannot arm it."""

    dry_run: bool = True
    reserved_concurrency: int = 5
    training_image_tag: str = "latest"
    forecast_systems: tuple[str, ...] = ()

    @classmethod
    def from_context(cls, scope: Construct) -> DeploySettings:
        raw_dry = _context(scope, CTX_DRY_RUN, cls.dry_run).lower()
        if raw_dry not in {"true", "false"}:
            raise ValueError(f"context {CTX_DRY_RUN} must be 'true' or 'false', got {raw_dry!r}")
        raw_rc = _context(scope, CTX_RESERVED_CONCURRENCY, cls.reserved_concurrency)
        if not raw_rc.isdigit() or int(raw_rc) < 1:
            raise ValueError(f"context {CTX_RESERVED_CONCURRENCY} must be an integer >= 1")
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
        return cls(
            dry_run=raw_dry == "true",
            reserved_concurrency=int(raw_rc),
            training_image_tag=tag,
            forecast_systems=systems,
        )


def _context(scope: Construct, key: str, default: object) -> str:
    """A context value as text (`-c` gives strings, cdk.json may give JSON booleans)."""
    value = scope.node.try_get_context(key)
    return str(default if value is None else value).strip()


class SelfhealStack(Stack):
    """Tables, topics, remediators, workflows and rules for every automation in the spec."""

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
        problems = spec.problems()
        if problems:
            raise SpecError("the convention files disagree:\n  " + "\n  ".join(problems))
        self.spec, self.settings = spec, settings
        self.storage = Storage(self, "Storage", names=TABLES)
        self.alerting = Alerting(self, "Alerting", levels=TOPICS)
        self.buckets = DataBuckets(self, "Buckets", kinds=BUCKETS)
        self.training = TrainingJobs(
            self, "Training", buckets=self.buckets, image_tag=settings.training_image_tag
        )
        self.remediators = Remediators(
            self,
            "Remediators",
            spec=spec,
            storage=self.storage,
            topics=self.alerting.topics,
            dry_run=settings.dry_run,
            reserved_concurrency=settings.reserved_concurrency,
            buckets=self.buckets,
            pass_roles={"sagemaker_training": self.training.role},
            training_image=self.training.image_uri,
        )
        self.workflows = Workflows(
            self,
            "Workflows",
            spec=spec,
            functions=self.remediators.functions,
            topics=self.alerting.topics,
            storage=self.storage,
            buckets=self.buckets,
        )
        self.routing = Routing(
            self,
            "Routing",
            spec=spec,
            state_machines=self.workflows.state_machines,
            ops_topic=self.alerting.topics["ops"],
        )
        if "edge_ingress" in self.remediators.functions:
            self.edge_iot = EdgeIoT(
                self,
                "EdgeIoT",
                ingress=self.remediators.functions["edge_ingress"],
                dead_letters=self.routing.dead_letters,
            )
        if PUBLISHER in self.remediators.functions:
            self.forecast_accuracy = ForecastAccuracy(
                self,
                "ForecastAccuracy",
                spec=spec,
                systems=settings.forecast_systems,
                publisher=self.remediators.functions[PUBLISHER],
                dead_letters=self.routing.dead_letters,
            )
        self.schedules = Schedules(
            self,
            "Schedules",
            spec=spec,
            state_machines=self.workflows.state_machines,
            dead_letters=self.routing.dead_letters,
        )
        # Whatever invokes a function asynchronously gave it a dead-letter queue above; the
        # rest are only called by state machine tasks, where Lambda's DLQ does not apply.
        for function in self.remediators.functions.values():
            if not has_dead_letter_queue(function):
                nag.acknowledge(function, "Serverless-LambdaDLQ", SYNC_ONLY_REASON)
        Tags.of(self).add("project", "selfheal")


def cdk_json_context() -> dict[str, Any]:
    """cdk.json's context, so an app built outside the CLI (tests, `python cdk/app.py`)
    synthesizes exactly what `cdk synth` does."""
    return cast(dict[str, Any], json.loads(CDK_JSON.read_text()).get("context", {}))


def build_stack(app: App, *, loaded: Spec | None = None) -> SelfhealStack:
    """The stack, from the convention files (or `loaded`) and the app's context."""
    return SelfhealStack(
        app,
        STACK_ID,
        spec=loaded if loaded is not None else load(),
        settings=DeploySettings.from_context(app),
        description="selfheal: event-driven auto-remediation (EventBridge -> Step Functions "
        "-> Lambda remediators)",
    )


def build_app(
    *,
    context: Mapping[str, Any] | None = None,
    outdir: str | Path | None = None,
    loaded: Spec | None = None,
) -> App:
    """An app with the stack and the AWS Solutions and Serverless checks; `context` overrides
    cdk.json and the CLI's `-c` values (tests use it), `outdir` defaults to the CLI's choice."""
    app = App(
        context=cdk_json_context(),
        post_cli_context=dict(context or {}),
        outdir=str(outdir) if outdir else None,
    )
    build_stack(app, loaded=loaded)
    nag.add_checks(app)
    return app
