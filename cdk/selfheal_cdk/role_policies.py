"""What each role of the app may do, as the synthesized templates say, with every reference
to one of our resources written as a placeholder (`${Table:audit}`, `${Topic:l1}`, ...).

The local runtime authorizes every call a handler or a state machine makes against these
statements (local/iam_enforcement.py), so a grant missing from the CDK fails locally as it
would in an account. The statements are read from what `cdk synth` writes, never re-typed;
`make policies` writes them to `local/role_policies.json` and a CDK test fails when that
file is not what a fresh synth gives.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from aws_cdk import Stack
from constructs import IConstruct

from .stack import SelfhealApp

#: `${Logical}` / `${Logical.Attr}` inside an Fn::Sub string.
SUB_NAME = re.compile(r"\$\{([A-Za-z0-9]+)((?:\.[A-Za-z0-9.]+)?)\}")
PSEUDO = {"AWS::Partition", "AWS::Region", "AWS::AccountId", "AWS::URLSuffix"}


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


def merged(templates: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """One template for the whole app: every logical id qualified by its stack
    (`Selfheal-ml/Foo`), every cross-stack read replaced by what the producer's output holds.
    Producers first: the core's outputs are qualified before a domain reads them."""
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


def logical_id(construct: IConstruct) -> str:
    """The qualified logical id of an L2 construct's CloudFormation resource."""
    stack = Stack.of(construct)
    default = construct.node.default_child
    if default is None:
        raise ValueError(f"{construct.node.path} has no CloudFormation resource")
    return f"{stack.stack_name}/{stack.resolve(stack.get_logical_id(default))}"  # type: ignore[arg-type]


class Names:
    """Qualified logical id -> how its ARN / name / attributes read as placeholders."""

    def __init__(self, app: SelfhealApp) -> None:
        core = app.core
        self.arn: dict[str, str] = {}
        self.ref: dict[str, str] = {}
        region = "${AWS::Region}:${AWS::AccountId}"
        for name, table in core.storage.tables.items():
            self._add(table, f"arn:${{AWS::Partition}}:dynamodb:{region}:table/${{Table:{name}}}")
        for name, topic in core.alerting.topics.items():
            lid = logical_id(topic)
            self.ref[lid] = f"arn:${{AWS::Partition}}:sns:{region}:${{Topic:{name}}}"
        for name, bucket in core.buckets.buckets.items():
            self._add(
                bucket, f"arn:${{AWS::Partition}}:s3:::${{Bucket:{name}}}", f"${{Bucket:{name}}}"
            )
        self._add(
            core.training.role,
            "arn:${AWS::Partition}:iam::${AWS::AccountId}:role/${Role:sagemaker_training}",
        )
        self.ref[logical_id(core.alerting.key)] = "${Key:topics}"
        self.arn[logical_id(core.alerting.key)] = "${Key:topics}"
        for stack in app.stacks:
            for name, fn in stack.remediators.functions.items():  # type: ignore[attr-defined]
                self._add(
                    fn,
                    f"arn:${{AWS::Partition}}:lambda:{region}:function:${{Function:{name}}}",
                    f"${{Function:{name}}}",
                )
        for domain in app.domains.values():
            for name, machine in domain.workflows.state_machines.items():
                arn = (
                    f"arn:${{AWS::Partition}}:states:{region}:stateMachine:${{StateMachine:{name}}}"
                )
                lid = logical_id(machine)
                self.ref[lid] = arn
                self.arn[lid] = arn  # fmt: skip

    def _add(self, construct: IConstruct, arn: str, ref: str | None = None) -> None:
        lid = logical_id(construct)
        self.arn[lid] = arn
        self.ref[lid] = ref if ref is not None else arn

    def resolve(self, value: Any) -> Any:
        """A policy value with its intrinsic functions written out as placeholders; what is
        not one of ours becomes `${Resource:<stack>/<logical id>}`, which matches nothing."""
        if isinstance(value, list):
            return [self.resolve(v) for v in value]
        if not isinstance(value, dict):
            return value
        if "Ref" in value:
            ref = value["Ref"]
            if ref in PSEUDO:
                return f"${{{ref}}}"
            return self.ref.get(ref, f"${{Resource:{ref}}}")
        if "Fn::GetAtt" in value:
            target, attr = value["Fn::GetAtt"][0], ".".join(value["Fn::GetAtt"][1:])
            if attr == "Arn":
                return self.arn.get(target, f"${{Resource:{target}.Arn}}")
            return f"${{Resource:{target}.{attr}}}"
        if "Fn::Join" in value:
            sep, parts = value["Fn::Join"]
            return sep.join(str(self.resolve(p)) for p in parts)
        if "Fn::Sub" in value and isinstance(value["Fn::Sub"], str):

            def sub(m: re.Match[str]) -> str:
                name, attr = m.group(1), m.group(2)
                if name in PSEUDO or name.startswith("AWS::"):
                    return m[0]
                return str(
                    self.resolve({"Fn::GetAtt": [name, attr[1:]]} if attr else {"Ref": name})
                )

            return re.sub(r"\$\{([^}.]+)((?:\.[^}]+)?)\}", sub, value["Fn::Sub"])
        return {k: self.resolve(v) for k, v in value.items()}


def _statements(template: Mapping[str, Any], role_id: str, names: Names) -> list[dict[str, Any]]:
    """Every Allow statement attached to the role: its inline policies and the
    AWS::IAM::Policy resources naming it."""
    resources = template["Resources"]
    docs = [p["PolicyDocument"] for p in resources[role_id]["Properties"].get("Policies", [])]
    for body in resources.values():
        if body["Type"] == "AWS::IAM::Policy" and {"Ref": role_id} in body["Properties"]["Roles"]:
            docs.append(body["Properties"]["PolicyDocument"])
    out = []
    for doc in docs:
        for statement in doc["Statement"]:
            resolved = names.resolve(statement)
            out.append(
                {
                    "Effect": resolved["Effect"],
                    "Action": _listed(resolved["Action"]),
                    "Resource": _listed(resolved.get("Resource", [])),
                    **({"Condition": resolved["Condition"]} if "Condition" in resolved else {}),
                }
            )
    return out


def _listed(value: str | Iterable[str]) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


def _role_id(construct: Any) -> str:
    return logical_id(construct.role)


def export(app: SelfhealApp, templates: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """Role statements per function, state machine and schedule, and each function's
    environment variable names (what the CDK gives it, so locally it sees only those)."""
    template = merged(templates)
    names = Names(app)
    functions: dict[str, Any] = {}
    for stack in app.stacks:
        for name, fn in sorted(stack.remediators.functions.items()):  # type: ignore[attr-defined]
            body = template["Resources"][logical_id(fn)]["Properties"]
            functions[name] = {
                "statements": _statements(template, _role_id(fn), names),
                "environment": sorted(body.get("Environment", {}).get("Variables", {})),
            }
    machines = {
        name: {"statements": _statements(template, _role_id(machine), names)}
        for domain in app.domains.values()
        for name, machine in sorted(domain.workflows.state_machines.items())
    }
    schedules = {
        name: {"statements": _statements(template, logical_id(role), names)}
        for domain in app.domains.values()
        for name, role in sorted(domain.schedules.roles.items())
    }
    return {
        "functions": dict(sorted(functions.items())),
        "stateMachines": dict(sorted(machines.items())),
        "schedules": dict(sorted(schedules.items())),
    }


def write(app: SelfhealApp, templates: Mapping[str, Mapping[str, Any]], path: Path) -> None:
    path.write_text(json.dumps(export(app, templates), indent=1, sort_keys=True) + "\n")


def main(argv: list[str] | None = None) -> None:
    """`make policies`: synthesize the app (bundling skipped, as the tests do) and write the
    statements file the local runtime enforces."""
    import sys
    import tempfile

    from .stack import build_app, built

    target = Path((argv if argv is not None else sys.argv[1:])[0])
    with tempfile.TemporaryDirectory(prefix="selfheal-policies-") as outdir:
        app = build_app(
            context={"selfheal:dryRun": "true", "aws:cdk:bundling-stacks": []}, outdir=outdir
        )
        stacks = built(app)
        assembly = app.synth()
        templates = {
            s.stack_name: assembly.get_stack_artifact(s.artifact_id).template for s in stacks.stacks
        }
        write(stacks, templates, target)


if __name__ == "__main__":
    main()
