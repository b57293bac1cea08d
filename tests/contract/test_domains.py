"""Every workflow belongs to exactly one domain (`state_machines/domains/<domain>.json`), the
stack it deploys in; a function goes to the one domain that calls it, else to the core."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from selfheal_cdk import spec as spec_mod

SPEC = spec_mod.load()


def test_every_workflow_has_exactly_one_domain() -> None:
    assert SPEC.domain_problems() == []
    assert SPEC.domains


def test_functions_several_domains_call_go_to_the_core() -> None:
    placed = SPEC.placement()
    for name in ("notify", "escalate", "claim_incident", "remediation_guards"):
        assert placed[name] == spec_mod.CORE, name
    for wf in SPEC.workflows.values():
        own = {f for f in wf.functions if placed[f] != spec_mod.CORE}
        assert {placed[f] for f in own} <= {SPEC.domain_of(wf.name)}, wf.name
    # called by no workflow (IoT rules, a schedule): core, beside what invokes them
    assert placed["edge_ingress"] == spec_mod.CORE


def test_a_domain_spec_holds_its_workflows_triggers_and_callable_functions() -> None:
    for name in SPEC.domains:
        part = SPEC.for_domain(name)
        assert set(part.workflows) == set(SPEC.domains[name].workflows)
        assert all(r.workflow in part.workflows for r in part.rules.values())
        assert all(s.workflow in part.workflows for s in part.schedules.values())
        assert part.problems() == [], name
    total = sum(len(SPEC.for_domain(n).rules) for n in SPEC.domains)
    assert total == len(SPEC.rules)


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    for part in ("events", "state_machines", "functions"):
        shutil.copytree(
            spec_mod.ROOT / part, tmp_path / part, ignore=shutil.ignore_patterns("__pycache__")
        )
    return tmp_path


def _edit(path: Path, **fields: object) -> None:
    path.write_text(json.dumps({**json.loads(path.read_text()), **fields}))


def test_a_workflow_without_a_domain_is_named_with_the_field_to_fill(tree: Path) -> None:
    _edit(tree / "state_machines" / "domains" / "deploy.json", workflows=["critical_failure"])
    problems = spec_mod.load(tree).domain_problems()
    assert problems == [
        "state_machines/rollback_on_5xx.asl.json: no domain; list 'rollback_on_5xx' in the "
        "field 'workflows' of one state_machines/domains/<domain>.json"
    ]
    # the local runtime still runs it: only the deployment needs a domain
    assert spec_mod.load(tree).problems() == []


def test_a_function_lives_in_the_folder_of_the_domain_that_calls_it(tree: Path) -> None:
    """`functions/<domain>/<function>/`: the folder is the domain (no list says it); one
    domain's function in another's folder, or in core, is named with where it belongs."""
    assert SPEC.functions["rollback_deployment"].domain == "deploy"
    assert SPEC.functions["escalate"].domain == "core"
    shutil.move(
        tree / "functions/deploy/rollback_check_alarm", tree / "functions/edge/rollback_check_alarm"
    )
    shutil.move(tree / "functions/data/freeze_gate", tree / "functions/core/freeze_gate")
    shutil.move(tree / "functions/ml/retrain_poll", tree / "functions/nowhere/retrain_poll")
    assert spec_mod.load(tree).domain_problems() == [
        "functions/core/freeze_gate: only the 'data' domain calls it; move it to "
        "functions/data/freeze_gate",
        "functions/nowhere/retrain_poll: 'nowhere' is no domain (state_machines/domains/)",
        "functions/edge/rollback_check_alarm: only the 'deploy' domain calls it; move it to "
        "functions/deploy/rollback_check_alarm",
    ]


def test_a_workflow_in_two_domains_or_a_missing_one_is_reported(tree: Path) -> None:
    listed = ["retrain_model", "x", "rollback_on_5xx"]
    _edit(tree / "state_machines" / "domains" / "ml.json", workflows=listed)
    problems = spec_mod.load(tree).domain_problems()
    assert any("ml.json: field 'workflows' names 'x'" in p for p in problems), problems
    assert any("rollback_on_5xx.asl.json: listed in the field 'workflows' of several" in p
               for p in problems), problems  # fmt: skip


@pytest.mark.parametrize(
    ("name", "body", "message"),
    [
        ("Edge_2.json", {"workflows": []}, "Edge_2.json: a domain name is lowercase"),
        ("core.json", {"workflows": []}, "core.json: a domain name"),
        ("probe.json", {"description": "no list"}, "probe.json: field 'workflows' must be a list"),
        ("probe.json", {"workflows": "probe_down"}, "probe.json: field 'workflows' must be a list"),
    ],
)
def test_a_bad_domain_file_is_refused_naming_file_and_field(
    tree: Path, name: str, body: dict[str, object], message: str
) -> None:
    (tree / "state_machines" / "domains" / name).write_text(json.dumps(body))
    with pytest.raises(spec_mod.SpecError, match=message):
        spec_mod.load(tree)


def test_a_step_is_named_after_its_automation(tree: Path) -> None:
    """Issue 20 item 5: `functions/deploy/rollback_*` are the rollback's steps; a step named
    for what it does alone (`check_alarm`) is named with the prefix it needs."""
    assert spec_mod.load(tree).domain_problems() == []
    shutil.move(
        tree / "functions/deploy/rollback_check_alarm", tree / "functions/deploy/check_alarm"
    )
    asl = tree / "state_machines" / "rollback_on_5xx.asl.json"
    asl.write_text(asl.read_text().replace("Function_rollback_check_alarm", "Function_check_alarm"))
    assert spec_mod.load(tree).domain_problems() == [
        "functions/deploy/check_alarm: name it after the automation that calls it "
        "(starting with rollback_)"
    ]
