"""The CDK and the local runtime build from the same files; prove those files agree."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from selfheal_cdk import spec as spec_mod

SPEC = spec_mod.load()


def test_repository_wiring_has_no_problems() -> None:
    assert SPEC.problems() == []
    assert SPEC.rules and SPEC.workflows and SPEC.functions


@pytest.mark.parametrize("name", sorted(SPEC.workflows))
def test_every_workflow_renders_to_valid_asl(name: str) -> None:
    wf = SPEC.workflows[name]
    bindings = SPEC.bindings(
        function_arn=lambda f: f"arn:fn:{f}",
        topic_arn=lambda t: f"arn:topic:{t}",
        table_name=lambda t: f"table-{t}",
    )
    definition = wf.render(bindings)
    assert definition["StartAt"] in definition["States"]
    assert "TimeoutSeconds" in definition, "every workflow needs an overall timeout"
    for state_name, state in definition["States"].items():
        for key in ("Next", "Default"):
            if key in state:
                assert state[key] in definition["States"], f"{state_name}.{key}"
        if state["Type"] == "Task":
            assert state.get("Retry"), f"{state_name} has no Retry"
            assert state.get("Catch"), f"{state_name} has no Catch"
            assert state.get("TimeoutSeconds"), f"{state_name} has no timeout"
            assert all(r["ErrorEquals"] != ["States.ALL"] for r in state["Retry"]), (
                f"{state_name} retries everything; retry only named errors"
            )


@pytest.fixture
def broken_tree(tmp_path: Path) -> Path:
    for part in ("events", "state_machines", "functions"):
        shutil.copytree(
            spec_mod.ROOT / part, tmp_path / part, ignore=shutil.ignore_patterns("__pycache__")
        )
    return tmp_path


def test_rule_targeting_a_missing_workflow_is_reported(broken_tree: Path) -> None:
    rule = broken_tree / "events" / "rules" / "rollback_on_5xx.json"
    data = json.loads(rule.read_text())
    data["target"]["workflow"] = "no_such_workflow"
    rule.write_text(json.dumps(data))
    problems = spec_mod.load(broken_tree).problems()
    assert any("no_such_workflow" in p for p in problems), problems


def test_workflow_calling_a_missing_function_is_reported(broken_tree: Path) -> None:
    shutil.rmtree(broken_tree / "functions" / "deploy" / "rollback_check_alarm")
    problems = spec_mod.load(broken_tree).problems()
    assert any("missing function 'rollback_check_alarm'" in p for p in problems), problems


def test_unknown_placeholder_is_reported_and_unbound_render_fails(broken_tree: Path) -> None:
    asl = broken_tree / "state_machines" / "rollback_on_5xx.asl.json"
    asl.write_text(
        asl.read_text()
        .replace("${Topic_ops}", "${Bucket_reports}", 1)
        .replace('"Comment": "', '"Comment": "${Secret_x} ', 1)
    )
    spec = spec_mod.load(broken_tree)
    assert any("${Secret_x}" in p for p in spec.problems())
    with pytest.raises(spec_mod.SpecError, match="unbound placeholders"):
        spec.workflows["rollback_on_5xx"].render({})
