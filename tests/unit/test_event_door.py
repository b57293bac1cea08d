"""The door events enter the pipeline by (issue 19): what PutEvents refuses is refused and
kept, what Step Functions refuses is dead-lettered and kept, what enters a workflow out of
bounds is refused by its first state and paged; and the local Step Functions is as strict
as AWS's about what `States.ALL` catches."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from selfheal_cdk import spec as spec_mod

from local import aws_validation, routing
from local.cli import main
from local.runtime import Pipeline
from tests.helpers import FIVE_XX, SAMPLES, load_event, spec_for

RULES = spec_mod.load().rules.values()
TOPIC = "arn:aws:sns:us-east-1:123456789012:t"


def _nested(depth: int) -> Any:
    node: Any = "bottom"
    for _ in range(depth):
        node = {"x": node}
    return node


def _event(**detail: Any) -> dict[str, Any]:
    event = load_event(FIVE_XX)
    event["detail"].update(detail)
    return event


@pytest.mark.parametrize(
    ("event", "code", "why"),
    [
        (_event(extra=float("nan")), "MalformedDetail", "Out of range float values"),
        (_event(extra=_nested(100_000)), "MalformedDetail", "nested too deep to write"),
        (_event(extra="x" * 262_144), "ValidationException", "over the limit"),
        ({**_event(), "detail": [1]}, "MalformedDetail", "not an array"),
        ({**_event(), "source": 7}, "InvalidArgument", "Source is a required argument"),
    ],
    ids=["nan", "deep", "over-256-kb", "not-an-object", "no-source"],
)
def test_what_put_events_refuses_is_refused_at_the_door(event: Any, code: str, why: str) -> None:
    refusal = aws_validation.event_refusal(event)
    assert refusal is not None and refusal.code == code and why in refusal.message, refusal
    assert routing.admit(event, RULES).refusal == str(refusal)


def test_a_sample_is_admitted_with_its_rule_and_input() -> None:
    admission = routing.admit(load_event(FIVE_XX), RULES)
    assert admission.refusal is None and admission.dead == []
    [(rule, text)] = admission.targets
    assert rule.workflow == "rollback_on_5xx" and json.loads(text) == load_event(FIVE_XX)


def test_flattening_a_hostile_depth_does_not_recurse() -> None:
    assert routing.flatten({"a": [_nested(50_000)]}) == {"a" + ".x" * 50_000: ["bottom"]}


@pytest.fixture
def rollback(make_pipeline: Callable[..., Pipeline]) -> Pipeline:
    return make_pipeline(spec=spec_for(["rollback_on_5xx"]))


def _journal(p: Pipeline, kind: str) -> list[str]:
    return [j.text for j in p.journal if j.kind == kind]


def test_put_event_never_raises_and_keeps_what_it_refuses(rollback: Pipeline) -> None:
    p = rollback
    nan = _event(extra=float("nan"))
    assert p.put_event(nan) == []
    deep = _event(extra=_nested(300))  # JSON, but deeper than the interpreter holds
    assert p.put_event(deep) == []

    [refused, dead] = p.refusals()
    assert refused.data["event"] is nan and "MalformedDetail" in refused.text
    assert dead.data["event"] is deep
    assert "rule rollback_on_5xx: rollback_on_5xx not started, kept as a dead letter" in dead.text
    assert "InvalidExecutionInput" in dead.text and "nested too deep to read" in dead.text
    assert "matched no rule; nothing started" not in _journal(p, "route")


@pytest.mark.parametrize(
    ("detail", "named"),
    [
        ({"extra": _nested(20)}, "detail.extra.x.x.x.x.x.x.x.x.x.x.x.x.x.x: nested deeper"),
        ({"state": {"value": "ALARM", "timestamp": "9999-12-31T23:59:59.000+0000"}},
         "detail.state.timestamp: date out of range"),
    ],
    ids=["deep", "year-9999"],
)  # fmt: skip
def test_out_of_bounds_input_is_refused_by_claim_and_paged(
    rollback: Pipeline, detail: dict[str, Any], named: str
) -> None:
    [arn] = rollback.put_event(_event(**detail))
    rollback.wait([arn])
    [run] = rollback.execution_summaries([arn])

    assert run["status"] == "FAILED" and run["states"][:3] == [
        "Claim",
        "ClaimFailed",
        "EscalateFailure",
    ]
    assert "InputInvalid" in run["cause"] and named in run["cause"], run["cause"]
    [escalated] = [a for a in run["actions"] if a["name"] == "escalate"]
    assert "paged" in escalated["result"]
    assert not [s for s in run["steps"] if s["name"].endswith("_intent")], "nothing acted"


def test_states_all_does_not_catch_states_runtime(rollback: Pipeline) -> None:
    """AWS: "A retry or catch on States.ALL won't catch States.Runtime errors". moto's
    did; a workflow relying on it would end FAILED unpaged in an account."""
    sfn = rollback.client("stepfunctions")
    role = sfn.describe_state_machine(stateMachineArn=rollback.state_machines["rollback_on_5xx"])
    definition = {
        "StartAt": "ReadMissing",
        "States": {
            "ReadMissing": {
                "Type": "Task",
                "Resource": "arn:aws:states:::sns:publish",
                "Parameters": {"TopicArn": TOPIC, "Message.$": "$.missing"},
                "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Caught"}],
                "End": True,
            },
            "Caught": {"Type": "Succeed"},
        },
    }  # fmt: skip
    machine = sfn.create_state_machine(
        name="reads-a-missing-path", definition=json.dumps(definition), roleArn=role["roleArn"]
    )["stateMachineArn"]
    arn = sfn.start_execution(stateMachineArn=machine, name="runtime", input="{}")["executionArn"]
    rollback.wait([arn])

    run = sfn.describe_execution(executionArn=arn)
    assert run["status"] == "FAILED" and run["error"] == "States.Runtime", run


def test_replay_of_hostile_event_files_says_what_became_of_each(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`selfheal replay` crashed on these (RecursionError, OverflowError); now one is refused
    at the door and the other is refused by Claim and paged, and the command says so."""
    deep, far = tmp_path / "deep.json", tmp_path / "far.json"
    deep.write_text(json.dumps(_event(extra=_nested(900))))
    far.write_text(json.dumps({**_event(), "time": "9999-12-31T23:59:59Z"}))
    nan = tmp_path / "nan.json"
    nan.write_text(json.dumps(_event(extra=float("nan"))))  # Python's json writes NaN

    assert main(["replay", str(deep), str(far), str(nan), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)

    [run] = out["executions"]
    assert run["status"] == "FAILED" and "time: date out of range" in run["cause"]
    assert [a["name"] for a in run["actions"]] == ["rollback_on_5xx", "escalate"]
    [dead, refused] = out["refused"]
    assert "kept as a dead letter" in dead and "nested too deep to read" in dead
    assert "not put on the bus: MalformedDetail" in refused


@pytest.mark.parametrize(
    "sample",
    [
        "over_temperature.over_temperature_alarm",
        "cell_imbalance.imbalance_alarm",
        "emergency_stop.estop_alarm",
    ],
)
def test_a_battery_alarm_on_an_edge_not_in_the_registry_acts_on_nothing(
    make_pipeline: Callable[..., Pipeline], sample: str
) -> None:
    """The over-temperature workflow stopped `ghost-…` (no power reading reads as running)."""
    workflow = sample.split(".")[0]
    p = make_pipeline(spec=spec_for([workflow]))
    event = load_event(SAMPLES / f"{sample}.json")
    event["detail"]["edgeId"] = "ghost-287"
    [arn] = p.put_event(event, bus="*")
    p.wait([arn])
    [run] = p.execution_summaries([arn])

    assert run["status"] == "FAILED", run
    assert "detail.edgeId: 'ghost-287' is not in the edge registry" in run["cause"]
    assert "escalate" in [a["name"] for a in run["actions"]]
    assert not [s for s in run["steps"] if s["name"].endswith("_intent")]
