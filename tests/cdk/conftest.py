"""Synthesize the CDK app once per session; every CDK test reads that one cloud assembly."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from aws_cdk.assertions import Template
from cdk_synth import Synth, merged
from selfheal_cdk.stack import build_app, built


@pytest.fixture(scope="session")
def synth(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Synth]:
    outdir = tmp_path_factory.mktemp("cdk.out")
    # Explicit default, so the tests pin the safe choice whatever cdk.json says later.
    # Bundling skipped: functions with a requirements.txt would pip-download wheels here.
    app = build_app(
        context={"selfheal:dryRun": "true", "aws:cdk:bundling-stacks": []}, outdir=outdir
    )
    stacks = built(app)
    assembly = app.synth()
    templates = {
        stack.stack_name: assembly.get_stack_artifact(stack.artifact_id).template
        for stack in stacks.stacks
    }
    view = merged(templates)
    yield Synth(
        spec=stacks.core.spec,
        app=stacks,
        templates=templates,
        template=view,
        assertions=Template.from_json(view),
        outdir=outdir,
        validation_report=json.loads((outdir / "validation-report.json").read_text()),
    )
