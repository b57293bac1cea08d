"""The synthesized app the CDK tests share (built once by the `synth` fixture in conftest).

The app is a core stack and one stack per domain. Tests read one merged view of all their
templates: every logical id qualified by its stack (`Selfheal-ml/Foo`), and every
cross-stack read (`Fn::GetStackOutput`) replaced by what the producer's output holds, so a
Ref/GetAtt in the view points at the resource it really names, whichever stack holds it.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT / "cdk") not in sys.path:
    sys.path.insert(0, str(ROOT / "cdk"))

from aws_cdk import Stack  # noqa: E402
from aws_cdk import aws_iam as iam  # noqa: E402
from aws_cdk import aws_lambda as lambda_  # noqa: E402
from aws_cdk import aws_stepfunctions as sfn  # noqa: E402
from aws_cdk.assertions import Template  # noqa: E402
from selfheal_cdk.role_policies import merged  # noqa: E402
from selfheal_cdk.spec import Spec  # noqa: E402
from selfheal_cdk.stack import CoreStack, DomainStack, SelfhealApp  # noqa: E402

__all__ = ["Synth", "merged"]


@dataclass(frozen=True)
class Synth:
    spec: Spec
    app: SelfhealApp
    #: stack name -> its template as written (for cfn-lint, sizes and per-stack checks).
    templates: dict[str, dict[str, Any]]
    #: The merged view, as plain JSON for walking; `assertions` for the CDK matchers.
    template: dict[str, Any]
    assertions: Template
    outdir: Path
    #: CDK's policy-validation report (cdk-nag 3 writes its findings here).
    validation_report: dict[str, Any]

    @property
    def core(self) -> CoreStack:
        return self.app.core

    @property
    def domains(self) -> dict[str, DomainStack]:
        return self.app.domains

    @property
    def functions(self) -> dict[str, lambda_.Function]:
        """Every function of the app, whichever stack deploys it."""
        out = dict(self.core.remediators.functions)
        for domain in self.domains.values():
            out |= domain.remediators.functions
        return out

    @property
    def state_machines(self) -> dict[str, sfn.StateMachine]:
        return {n: m for d in self.domains.values() for n, m in d.workflows.state_machines.items()}

    @property
    def schedule_roles(self) -> dict[str, iam.Role]:
        return {n: r for d in self.domains.values() for n, r in d.schedules.roles.items()}

    def resources(self, kind: str) -> dict[str, dict[str, Any]]:
        return {k: r for k, r in self.template["Resources"].items() if r["Type"] == kind}

    def logical_id(self, construct: Any) -> str:
        """The qualified logical id of an L2 construct's CloudFormation resource."""
        stack = Stack.of(construct)
        local = stack.resolve(stack.get_logical_id(construct.node.default_child))
        return f"{stack.stack_name}/{local}"

    def template_path(self, stack: str) -> Path:
        return self.outdir / f"{stack}.template.json"
