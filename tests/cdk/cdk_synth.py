"""The synthesized app the CDK tests share (built once by the `synth` fixture in conftest).

The app is a core stack and one stack per domain. Tests read one merged view of all their
templates: every logical id qualified by its stack (`Selfheal-ml/Foo`), and every
cross-stack read (`Fn::GetStackOutput`) replaced by what the producer's output holds, so a
Ref/GetAtt in the view points at the resource it really names, whichever stack holds it.
"""

from __future__ import annotations

import re
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
from selfheal_cdk.spec import Spec  # noqa: E402
from selfheal_cdk.stack import CoreStack, DomainStack, SelfhealApp  # noqa: E402

SUB_NAME = re.compile(r"\$\{([A-Za-z0-9]+)((?:\.[A-Za-z0-9.]+)?)\}")


def qualify(stack: str, value: Any, local: set[str], outputs: dict[str, dict[str, Any]]) -> Any:
    """`value` of `stack`'s template with its logical ids (those in `local`) qualified and
    cross-stack reads resolved through `outputs` (stack -> its qualified Outputs)."""
    if isinstance(value, list):
        return [qualify(stack, v, local, outputs) for v in value]
    if not isinstance(value, dict):
        return value
    if "Ref" in value and value["Ref"] in local:
        return {"Ref": f"{stack}/{value['Ref']}"}
    if "Fn::GetAtt" in value and value["Fn::GetAtt"][0] in local:
        return {"Fn::GetAtt": [f"{stack}/{value['Fn::GetAtt'][0]}", *value["Fn::GetAtt"][1:]]}
    if "Fn::GetStackOutput" in value:
        ref = value["Fn::GetStackOutput"]
        return outputs[ref["StackName"]][ref["OutputName"]]["Value"]
    if "Fn::Sub" in value and isinstance(value["Fn::Sub"], str):
        text = SUB_NAME.sub(
            lambda m: f"${{{stack}/{m.group(1)}{m.group(2)}}}" if m.group(1) in local else m[0],
            value["Fn::Sub"],
        )
        return {"Fn::Sub": text}
    return {k: qualify(stack, v, local, outputs) for k, v in value.items()}


def merged(templates: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """One template for the whole app (see the module docstring). Producers first: the
    core's outputs are qualified before a domain reads them."""
    outputs: dict[str, dict[str, Any]] = {}
    out: dict[str, Any] = {"Resources": {}, "Parameters": {}}
    for stack, template in templates.items():
        local = set(template["Resources"]) | set(template.get("Parameters", {}))
        outputs[stack] = qualify(stack, template.get("Outputs", {}), local, outputs)
        for section in ("Resources", "Parameters"):
            for logical_id, body in template.get(section, {}).items():
                body = qualify(stack, body, local, outputs)
                if "DependsOn" in body:
                    body["DependsOn"] = [f"{stack}/{d}" for d in body["DependsOn"]]
                out[section][f"{stack}/{logical_id}"] = body
    return out


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
