"""The synthesized app the CDK tests share (built once by the `synth` fixture in conftest)."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT / "cdk") not in sys.path:
    sys.path.insert(0, str(ROOT / "cdk"))

from aws_cdk.assertions import Template  # noqa: E402
from selfheal_cdk.spec import Spec  # noqa: E402
from selfheal_cdk.stack import SelfhealStack  # noqa: E402


@dataclass(frozen=True)
class Synth:
    spec: Spec
    stack: SelfhealStack
    #: The template as plain JSON, for walking; `assertions` for the CDK matchers.
    template: dict[str, Any]
    assertions: Template
    outdir: Path
    #: CDK's policy-validation report (cdk-nag 3 writes its findings here).
    validation_report: dict[str, Any]

    def resources(self, kind: str) -> dict[str, dict[str, Any]]:
        return {k: r for k, r in self.template["Resources"].items() if r["Type"] == kind}

    def logical_id(self, construct: Any) -> str:
        """The logical id of an L2 construct's CloudFormation resource."""
        return str(self.stack.resolve(self.stack.get_logical_id(construct.node.default_child)))
