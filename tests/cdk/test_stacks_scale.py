"""Stacks that scale (issue 10, item 3): a core stack and one stack per domain, each template
far below CloudFormation's limits, domains reading only the core, and a new automation
landing in its domain's stack (or a new one) with no edit to the CDK code."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aws_cdk.cx_api import CloudAssembly
from cdk_synth import ROOT, Synth
from selfheal_cdk import spec as spec_mod
from selfheal_cdk.stack import STACK_ID, build_app, built, domain_stack_id

#: Our ceilings, with headroom under CloudFormation's 500 resources and 1 MB per template.
MAX_RESOURCES = 400
MAX_KB = 800
CROSS_STACK = ("Fn::GetStackOutput", "Fn::ImportValue")


def minified_kb(template: dict[str, Any]) -> float:
    return len(json.dumps(template, separators=(",", ":")).encode()) / 1024


def reads(value: Any) -> Iterator[tuple[str, Any]]:
    """Every cross-stack read in a template value: (intrinsic, its argument)."""
    if isinstance(value, dict):
        for key, inner in value.items():
            if key in CROSS_STACK:
                yield key, inner
            yield from reads(inner)
    elif isinstance(value, list):
        for inner in value:
            yield from reads(inner)


def test_every_template_is_below_400_resources_and_800_kb(synth: Synth) -> None:
    sizes = {
        name: (len(t["Resources"]), round(minified_kb(t), 1)) for name, t in synth.templates.items()
    }
    assert set(sizes) == {STACK_ID, *(domain_stack_id(d) for d in synth.spec.domains)}
    for name, (resources, kb) in sizes.items():
        assert resources <= MAX_RESOURCES, f"{name}: {resources} resources"
        assert kb <= MAX_KB, f"{name}: {kb} KB"


def test_domain_stacks_read_only_the_core_and_the_core_reads_nothing(synth: Synth) -> None:
    """No cycle and no domain coupled to another: every cross-stack read names the core,
    and the core (deployed first) reads no stack."""
    assert list(reads(synth.templates[STACK_ID])) == []
    for name, template in synth.templates.items():
        if name == STACK_ID:
            continue
        found = list(reads(template))
        assert found, f"{name} reads nothing from the core?"
        for kind, arg in found:
            assert kind == "Fn::GetStackOutput" and arg["StackName"] == STACK_ID, (name, arg)
    manifest = json.loads((synth.outdir / "manifest.json").read_text())
    for name in synth.templates:
        deps = manifest["artifacts"][name].get("dependencies", [])
        stacks = {d for d in deps if not d.endswith(".assets")}
        assert stacks == (set() if name == STACK_ID else {STACK_ID}), (name, deps)


def test_each_workflow_its_rules_and_schedules_deploy_in_its_domain_stack(synth: Synth) -> None:
    for name, domain in synth.domains.items():
        assert set(domain.workflows.state_machines) == set(synth.spec.domains[name].workflows)
        assert {r.workflow for r in domain.spec.rules.values()} <= set(domain.spec.workflows)
    placed = synth.spec.placement()
    for fn, function in synth.functions.items():
        expected = STACK_ID if placed[fn] == spec_mod.CORE else domain_stack_id(placed[fn])
        assert synth.logical_id(function).split("/")[0] == expected, fn


# --- a new automation, added as files only ---------------------------------------------


def _task(function: str, *, next_state: str | None = None, catch: str | None = None) -> dict:
    state: dict[str, Any] = {
        "Type": "Task",
        "Resource": "arn:aws:states:::lambda:invoke",
        "Parameters": {"FunctionName": f"${{Function_{function}}}", "Payload.$": "$"},
        "TimeoutSeconds": 60,
        "Retry": [{"ErrorEquals": ["Lambda.ServiceException"], "MaxAttempts": 2}],
    }
    if catch:
        state["Catch"] = [{"ErrorEquals": ["States.ALL"], "Next": catch}]
    state.update({"Next": next_state} if next_state else {"End": True})
    return state


def add_automation(root: Path, name: str, domain: str) -> None:
    """A rule, a workflow and a function, as an author adds them; the domain file gets the
    workflow (a new domain is a new file)."""
    function = f"{name}_act"
    folder = root / "functions" / domain / function
    folder.mkdir(parents=True)
    (folder / "app.py").write_text("def handler(event, context):\n    return event\n")
    (folder / "function.json").write_text(json.dumps({"description": f"probe {name}"}))
    asl = {
        "Comment": f"{name}: a probe automation",
        "StartAt": "Act",
        "TimeoutSeconds": 300,
        "States": {
            "Act": _task(function, catch="Escalate"),
            "Escalate": _task("escalate", next_state="Failed"),
            "Failed": {"Type": "Fail"},
        },
    }
    (root / "state_machines" / f"{name}.asl.json").write_text(json.dumps(asl, indent=2))
    rule = {
        "description": f"probe {name}",
        "eventPattern": {"source": [f"probe.{name}"]},
        "target": {"workflow": name},
    }
    (root / "events" / "rules" / f"{name}.json").write_text(json.dumps(rule))
    domain_file = root / "state_machines" / "domains" / f"{domain}.json"
    data = json.loads(domain_file.read_text()) if domain_file.exists() else {}
    data["workflows"] = [*data.get("workflows", []), name]
    domain_file.write_text(json.dumps(data))


def test_a_new_automation_lands_in_its_domain_stack_without_editing_the_cdk(
    tmp_path: Path,
) -> None:
    """Files only: one automation in the existing `edge` domain, one in a new `probe` domain.
    The first joins Selfheal-edge, the second makes Selfheal-probe; nothing new in the core."""
    root = tmp_path / "repo"
    for part in ("events", "state_machines", "functions"):
        shutil.copytree(ROOT / part, root / part, ignore=shutil.ignore_patterns("__pycache__"))
    add_automation(root, "probe_edge", "edge")
    add_automation(root, "probe_down", "probe")
    spec = spec_mod.load(root)
    app = build_app(
        context={"aws:cdk:bundling-stacks": []}, outdir=tmp_path / "cdk.out", loaded=spec
    )
    stacks = built(app)
    assembly: CloudAssembly = app.synth()  # nag included: the new stacks pass it too

    def template(stack_name: str) -> dict[str, Any]:
        return dict(assembly.get_stack_by_name(stack_name).template)

    assert set(stacks.domains) == set(spec_mod.load().domains) | {"probe"}
    for name, domain in (("probe_edge", "edge"), ("probe_down", "probe")):
        stack = stacks.domains[domain]
        assert name in stack.workflows.state_machines
        assert name in stack.routing.rules
        assert f"{name}_act" in stack.remediators.functions
        assert f"{name}_act" not in stacks.core.remediators.functions
        patterns = [
            r["Properties"]["EventPattern"]
            for r in template(stack.stack_name)["Resources"].values()
            if r["Type"] == "AWS::Events::Rule"
        ]
        assert {"source": [f"probe.{name}"]} in patterns
    # escalate stays in the core (several domains call it); the new stack reads only the core
    assert "escalate" in stacks.core.remediators.functions
    probe = template(domain_stack_id("probe"))
    assert all(arg["StackName"] == STACK_ID for _, arg in reads(probe))
    assert not list(reads(template(STACK_ID)))
    assert len(probe["Resources"]) <= MAX_RESOURCES


@pytest.mark.parametrize("missing", ["domain file", "workflow in it"])
def test_an_automation_without_a_domain_does_not_deploy(tmp_path: Path, missing: str) -> None:
    root = tmp_path / "repo"
    for part in ("events", "state_machines", "functions"):
        shutil.copytree(ROOT / part, root / part, ignore=shutil.ignore_patterns("__pycache__"))
    add_automation(root, "probe_down", "probe")
    domain_file = root / "state_machines" / "domains" / "probe.json"
    if missing == "domain file":
        domain_file.unlink()
    else:
        domain_file.write_text(json.dumps({"workflows": []}))
    with pytest.raises(spec_mod.SpecError, match=r"probe_down.asl.json: no domain; .*'workflows'"):
        build_app(outdir=tmp_path / "cdk.out", loaded=spec_mod.load(root))
