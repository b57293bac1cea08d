"""local/aws_validation.py: AWS's limits and error codes, at their boundaries, and the same
checks answering boto3 in-process (tests/serve checks them through the AWS CLI)."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import Any

import pytest
from botocore.exceptions import ClientError

from local import aws_validation as v
from local.clock import MAX_ADVANCE_SECONDS, check_advance
from local.runtime import Pipeline

ENTRY = {"Source": "selfheal.test", "DetailType": "Probe", "Detail": "{}"}


def _code(fn: Callable[[], Any]) -> str:
    with pytest.raises(v.AwsError) as caught:
        fn()
    return caught.value.code


# -- PutEvents -----------------------------------------------------------------------------


def test_entry_size_is_the_documented_formula() -> None:
    """Time 14 bytes when given; Source, DetailType, Detail and each resource as UTF-8
    bytes; the bus, the trace header and the JSON around the values count nothing."""
    entry = {
        "Time": "2026-11-20T15:00:00Z",
        "Source": "só",  # 3 bytes
        "DetailType": "ab",
        "Detail": '{"k":"é"}',  # 10 bytes
        "Resources": ["r1", "ré"],  # 2 + 3
        "EventBusName": "selfheal-edge",
        "TraceHeader": "Root=1-abc",
    }
    assert v.entry_size(entry) == 14 + 3 + 2 + 10 + 5
    assert v.entry_size({k: x for k, x in entry.items() if k != "Time"}) == 3 + 2 + 10 + 5


def test_the_256_kb_limit_counts_entries_by_the_formula_not_the_body() -> None:
    fixed = v.entry_size({**ENTRY, "Detail": ""})
    # A Detail full of quotes: its JSON-escaped request body is far bigger than the entry.
    base = json.dumps({"q": '"' * 20_000, "p": ""})
    padding = "x" * (v.PUT_EVENTS_MAX_TOTAL_BYTES - fixed - len(base))
    at_limit = {**ENTRY, "Detail": json.dumps({"q": '"' * 20_000, "p": padding})}
    assert v.entry_size(at_limit) == v.PUT_EVENTS_MAX_TOTAL_BYTES
    assert len(json.dumps({"Entries": [at_limit]})) > v.PUT_EVENTS_MAX_TOTAL_BYTES
    assert v.put_events_entries({"Entries": [at_limit]}) == [at_limit]
    over = {**at_limit, "Resources": ["x"]}
    assert _code(lambda: v.put_events_entries({"Entries": [over]})) == "ValidationException"
    # The limit is on the request's total: two entries of half each are refused as well.
    half = {**ENTRY, "Detail": json.dumps({"p": "x" * (v.PUT_EVENTS_MAX_TOTAL_BYTES // 2)})}
    assert _code(lambda: v.put_events_entries({"Entries": [half, half]})) == "ValidationException"


@pytest.mark.parametrize(("count", "ok"), [(0, False), (1, True), (10, True), (11, False)])
def test_one_to_ten_entries(count: int, ok: bool) -> None:
    body = {"Entries": [ENTRY] * count}
    if ok:
        assert len(v.put_events_entries(body)) == count
    else:
        assert _code(lambda: v.put_events_entries(body)) == "ValidationException"
    assert _code(lambda: v.put_events_entries({})) == "ValidationException"


@pytest.mark.parametrize(
    ("change", "code", "names"),
    [
        ({"Source": None}, "InvalidArgument", "Source"),
        ({"DetailType": ""}, "InvalidArgument", "DetailType"),
        ({"Detail": None}, "InvalidArgument", "Detail"),
        ({"Detail": "{not json"}, "MalformedDetail", "Expecting property name"),
        ({"Detail": "[1, 2]"}, "MalformedDetail", "not an array"),
        ({"Detail": '"text"'}, "MalformedDetail", "not a string"),
        ({"Detail": "null"}, "MalformedDetail", "not null"),
        ({"Detail": '{"v": NaN}'}, "MalformedDetail", "NaN is not a JSON value"),
        ({"Detail": "[" * 5000 + "]" * 5000}, "MalformedDetail", "nested too deep"),
    ],
)
def test_an_entry_fails_alone_with_aws_code(change: dict[str, Any], code: str, names: str) -> None:
    error = v.entry_error({**ENTRY, **change})
    assert error is not None and error.code == code and names in error.message
    assert error.result() == {"ErrorCode": code, "ErrorMessage": error.message}
    assert v.entry_error(ENTRY) is None


def test_a_bus_is_named_by_name_or_arn() -> None:
    assert v.event_bus_name(None) == "default"
    assert v.event_bus_name("selfheal-edge") == "selfheal-edge"
    arn = "arn:aws:events:us-east-1:123456789012:event-bus/selfheal-edge"
    assert v.event_bus_name(arn) == "selfheal-edge"


# -- Step Functions ------------------------------------------------------------------------


@pytest.mark.parametrize("char", [*sorted(v.EXECUTION_NAME_FORBIDDEN), " ", "\t", "\u2003"])
def test_a_forbidden_character_in_a_name_is_invalid_name(char: str) -> None:
    assert _code(lambda: v.check_execution_name(f"manual{char}1")) == "InvalidName"


@pytest.mark.parametrize("code_point", [0x00, 0x1F, 0x7F, 0x9F])
def test_a_control_character_in_a_name_is_invalid_name(code_point: int) -> None:
    assert _code(lambda: v.check_execution_name(f"a{chr(code_point)}b")) == "InvalidName"


def test_a_name_is_1_to_80_characters() -> None:
    v.check_execution_name("a" * v.EXECUTION_NAME_MAX)
    v.check_execution_name("manual-2026_11.20-é")  # letters beyond ASCII are allowed
    too_long = "a" * (v.EXECUTION_NAME_MAX + 1)
    assert _code(lambda: v.check_execution_name(too_long)) == "ValidationException"
    assert _code(lambda: v.check_execution_name("")) == "InvalidName"


def test_execution_input_is_json_of_at_most_256_kb() -> None:
    v.check_execution_input("[1, 2]")  # any JSON: the workflow refuses a non-object itself
    limit = '"' + "x" * (v.PAYLOAD_MAX_BYTES - 2) + '"'
    v.check_execution_input(limit)
    assert _code(lambda: v.check_execution_input(limit + " ")) == "InvalidExecutionInput"
    # UTF-8 bytes, not characters: é is two bytes.
    assert _code(lambda: v.check_execution_input(limit[:-2] + 'é"')) == "InvalidExecutionInput"
    for bad in ("{nope", "", '{"a": Infinity}'):
        assert _code(lambda bad=bad: v.check_execution_input(bad)) == "InvalidExecutionInput"


def test_task_output_is_json_of_at_most_256_kb() -> None:
    v.check_task_output('{"decision": "resume"}')
    for bad in ("resume", "{", '"' + "x" * v.PAYLOAD_MAX_BYTES + '"'):
        assert _code(lambda bad=bad: v.check_task_output(bad)) == "InvalidOutput"


def test_task_failure_error_and_cause_lengths() -> None:
    v.check_task_failure("e" * v.TASK_ERROR_MAX, "c" * v.TASK_CAUSE_MAX)
    v.check_task_failure(None, None)
    error = "e" * (v.TASK_ERROR_MAX + 1)
    cause = "c" * (v.TASK_CAUSE_MAX + 1)
    assert _code(lambda: v.check_task_failure(error, None)) == "ValidationException"
    assert _code(lambda: v.check_task_failure(None, cause)) == "ValidationException"


def test_an_aws_error_has_the_json_protocol_body() -> None:
    error = v.AwsError("InvalidOutput", "not JSON")
    assert (error.status, error.body()) == (400, {"__type": "InvalidOutput", "message": "not JSON"})


# -- the clock's step ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("seconds", "why"),
    [
        (math.nan, "finite"),
        (math.inf, "finite"),
        (-1.0, "never goes back"),
        (1e12, "at most"),
        (MAX_ADVANCE_SECONDS + 1.0, "at most"),
    ],
)
def test_an_absurd_clock_step_is_refused_saying_why(seconds: float, why: str) -> None:
    with pytest.raises(ValueError, match=why):
        check_advance(seconds)
    assert check_advance(MAX_ADVANCE_SECONDS) == MAX_ADVANCE_SECONDS
    assert check_advance(0) == 0


# -- the same checks, in-process ------------------------------------------------------------


def test_in_process_boto3_gets_the_same_answers(make_pipeline: Callable[..., Pipeline]) -> None:
    """boto3 through moto's stubber meets the same checks as the AWS CLI through serve: a
    malformed entry fails alone, a bus that does not exist refuses the request, a refused
    clock step leaves the clock where it was. (The core stack's own buses exist locally:
    the edge tests put their domain events on `selfheal-edge`.)"""
    p = make_pipeline()
    events = p.client("events")
    out = events.put_events(Entries=[{**ENTRY, "Detail": "[1]"}, ENTRY])
    assert out["FailedEntryCount"] == 1
    assert out["Entries"][0]["ErrorCode"] == "MalformedDetail"
    assert "EventId" in out["Entries"][1]
    routed = [j.data["event"] for j in p.journal if j.kind == "event"]
    assert [e["detail"] for e in routed] == [{}], "the valid entry alone was routed"
    assert routed[0]["id"] == out["Entries"][1]["EventId"]
    with pytest.raises(ClientError) as caught:
        events.put_events(Entries=[{**ENTRY, "EventBusName": "no-such-bus"}])
    assert caught.value.response["Error"]["Code"] == "ResourceNotFoundException"
    before = p.clock.now()
    with pytest.raises(ValueError, match="finite"):
        p.clock.advance(math.nan)
    assert p.clock.now() == before
