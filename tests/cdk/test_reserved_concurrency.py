"""Reserved concurrency only where a function's config asks for it (issue 18, part 4).

Every reservation comes out of the account's concurrency quota, and Lambda keeps 100 of it
unreserved: a blanket 5 on each of the 71 functions (355) did not deploy in a new account
(quota 10, or 1,000 with other workloads). The runbooks' limits on how much may happen at
once (edge restarts per minute and per % of the fleet, restarts per service per hour, one
MQTT ingestion instance in production, OTA rollout rate) are guards, budgets and leases in
DynamoDB or IoT Jobs settings, not Lambda concurrency; a function that needs a reservation
declares `reservedConcurrency` {"executions", "why"} in its function.json.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest
from aws_cdk import App
from aws_cdk.assertions import Template
from cdk_synth import ROOT, Synth
from selfheal_cdk.spec import Spec, SpecError, _load_function
from selfheal_cdk.stack import (
    CTX_RESERVED_CONCURRENCY,
    STACK_ID,
    CoreStack,
    DeploySettings,
    cdk_json_context,
)
from test_stack import function_ids


def declared(spec: Spec) -> dict[str, int]:
    return {
        name: fn.reserved_concurrency
        for name, fn in spec.functions.items()
        if fn.reserved_concurrency is not None
    }


def test_only_functions_whose_config_asks_reserve_concurrency(synth: Synth) -> None:
    reserved = {}
    for name, logical_id in function_ids(synth).items():
        props = synth.template["Resources"][logical_id]["Properties"]
        if "ReservedConcurrentExecutions" in props:
            reserved[name] = props["ReservedConcurrentExecutions"]
    assert reserved == declared(synth.spec)
    for name in reserved:
        assert synth.spec.functions[name].reserved_concurrency_why, name
    # today: none (see the module docstring), so nothing is taken from the account's pool
    total = sum(
        res["Properties"].get("ReservedConcurrentExecutions", 0)
        for res in synth.resources("AWS::Lambda::Function").values()
    )
    assert total == sum(declared(synth.spec).values()) == 0


def test_the_blanket_context_value_is_gone_and_refused() -> None:
    assert CTX_RESERVED_CONCURRENCY not in cdk_json_context()
    with pytest.raises(ValueError, match=r"function\.json"):
        DeploySettings.from_context(App(context={CTX_RESERVED_CONCURRENCY: "5"}))


def write_function(tmp_path: Path, meta: dict[str, Any]) -> Path:
    path = tmp_path / "functions" / "edge" / "restart_edge"
    path.mkdir(parents=True)
    (path / "app.py").write_text("def handler(event, context):\n    return event\n")
    (path / "function.json").write_text(json.dumps(meta))
    return path


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ({"executions": 2}, "no 'why'"),
        ({"executions": 2, "why": "  "}, "no 'why'"),
        ({"executions": 0, "why": "x"}, "integer >= 1"),
        ({"executions": "2", "why": "x"}, "integer >= 1"),
        ({"executions": True, "why": "x"}, "integer >= 1"),
        (5, "integer >= 1"),
    ],
    ids=["no-why", "blank-why", "zero", "string", "bool", "bare-number"],
)
def test_a_bad_declaration_names_the_file_and_field(
    tmp_path: Path, value: Any, message: str
) -> None:
    path = write_function(tmp_path, {"reservedConcurrency": value})
    where = "functions/edge/restart_edge/function.json field 'reservedConcurrency'"
    with pytest.raises(SpecError, match=rf"{where}.*{message}"):
        _load_function(path)


def test_a_declared_reservation_reaches_the_function(tmp_path: Path) -> None:
    """The path a future declaration takes, on a core stack of one function (no workflow
    calls it, so the core deploys it)."""
    why = "runbook NNN: at most two at once"
    path = write_function(tmp_path, {"reservedConcurrency": {"executions": 2, "why": why}})
    fn = _load_function(path)
    assert (fn.reserved_concurrency, fn.reserved_concurrency_why) == (2, why)
    other = dataclasses.replace(fn, name="other", reserved_concurrency=None)
    spec = Spec(root=ROOT, functions={fn.name: fn, other.name: other}, rules={}, workflows={})
    app = App(context={**cdk_json_context(), "aws:cdk:bundling-stacks": []})
    core = CoreStack(app, STACK_ID, spec=spec, settings=DeploySettings())
    template = Template.from_stack(core).to_json()
    by_name = {
        name: template["Resources"][core.resolve(core.get_logical_id(f.node.default_child))]
        for name, f in core.remediators.functions.items()
    }
    assert by_name["restart_edge"]["Properties"]["ReservedConcurrentExecutions"] == 2
    assert "ReservedConcurrentExecutions" not in by_name["other"]["Properties"]
