"""The real AWS CLI against `selfheal serve` in a subprocess: what a user types works.

One server for the module (its start, ~5 s, is the cost); each test uses its own
incident, scope or workflow so they do not see each other's executions.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from selfheal_shared.services import service_spec

from tests.helpers import FIVE_XX, load_event
from tests.serve.served import ROOT, SAMPLES, Served, serve

FLAGGED = ["ons-geracao"]  # what the demo world's integrity check flags


@pytest.fixture(scope="module")
def served() -> Iterator[Served]:
    with serve() as running:
        yield running


def test_lists_the_state_machines(served: Served) -> None:
    names = {m["name"] for m in served.aws("stepfunctions", "list-state-machines")["stateMachines"]}
    assert {"selfheal-sm-freeze-ingestion", "selfheal-sm-rollback-on-5xx"} <= names
    topics = {t["TopicArn"].rsplit(":", 1)[1] for t in served.aws("sns", "list-topics")["Topics"]}
    assert {"selfheal-topic-l1", "selfheal-topic-ops"} <= topics


def test_a_cli_run_has_the_timeline_of_the_in_process_run(served: Served) -> None:
    """The target: a manual execution started with the AWS CLI runs as `Pipeline` runs it
    in-process (same states, same actions and outcomes, same virtual duration)."""
    from local.runtime import Pipeline

    manual = ROOT / "events" / "manual" / "retrain_model.manual_request.json"
    arn = served.aws(
        "stepfunctions", "start-execution", "--state-machine-arn", served.arns["retrain_model"],
        "--input", f"file://{manual}",
    )["executionArn"]  # fmt: skip
    remote = served.wait(arn)
    with Pipeline() as p:
        local_arn = p.start_manual("retrain_model", json.loads(manual.read_text()))
        p.wait([local_arn])
        local = p.execution_summary(local_arn)

    def shape(run: dict[str, Any]) -> Any:
        actions = [(a["name"], a["outcome"], a["result"]) for a in run["actions"]]
        return run["status"], run["states"], actions, run["duration_ms"]

    assert shape(remote) == shape(local)


def test_manual_execution_runs_and_bad_input_fails_naming_the_field(served: Served) -> None:
    """Started from the CLI without --name (each gets its own, unlike moto's `None`)."""
    arn = served.arns["retrain_model"]
    good = served.aws(
        "stepfunctions", "start-execution", "--state-machine-arn", arn,
        "--input", f"file://{ROOT / 'events/manual/retrain_model.manual_request.json'}",
    )["executionArn"]  # fmt: skip
    bad_input = {"systemId": "bess-456", "modelType": "ensemble", "trainingWindowDays": 90,
                 "requestedBy": 7}  # fmt: skip
    bad = served.aws(
        "stepfunctions", "start-execution", "--state-machine-arn", arn,
        "--input", json.dumps(bad_input),
    )["executionArn"]  # fmt: skip
    assert good != bad and not good.endswith(":None")

    run = served.wait(good)
    assert run["status"] == "SUCCEEDED", run
    failed = served.wait(bad)
    assert failed["status"] == "FAILED"
    why = next(a["why"] for a in failed["actions"] if a["outcome"] == "FAILED")
    assert "InputInvalid" in why and "requestedBy" in why
    described = served.aws("stepfunctions", "describe-execution", "--execution-arn", bad)
    assert described["status"] == "FAILED"
    history = served.aws("stepfunctions", "get-execution-history", "--execution-arn", good)
    entered = [e["stateEnteredEventDetails"]["name"] for e in history["events"]
               if "stateEnteredEventDetails" in e]  # fmt: skip
    assert entered[0] == "Claim" and entered == run["states"]


def _gate_token(served: Served, incident: str) -> str:
    item = served.aws(
        "dynamodb", "get-item", "--table-name", served.tables["guard_state"],
        "--key", json.dumps({"pk": {"S": f"gate#{incident}"}}),
    )["Item"]  # fmt: skip
    token: str = item["token"]["S"]
    return token


def test_alarm_put_events_freezes_and_send_task_success_resumes(served: Served) -> None:
    """A real-shaped CloudWatch alarm event, put with the CLI, is routed by the rule's own
    pattern; an answer that is not JSON is refused (`InvalidOutput`) and the token stays
    valid: the gate still waits, and the right answer then resumes."""
    event = load_event(SAMPLES / "freeze_ingestion.validation_failures_alarm.json")
    out = served.put_events(event)
    assert out["FailedEntryCount"] == 0
    runs = served.aws(
        "stepfunctions", "list-executions", "--state-machine-arn", served.arns["freeze_ingestion"]
    )["executions"]
    [arn] = [r["executionArn"] for r in runs if r["status"] == "RUNNING"]
    parked = served.wait(arn, parked=True)
    assert parked["status"] == "RUNNING" and "awaiting" in parked
    incident = parked["incidentId"]
    assert incident in served.selfheal("gates").stdout

    token = _gate_token(served, incident)
    why = served.aws_refused(
        "InvalidOutput", "SendTaskSuccess",
        "stepfunctions", "send-task-success", "--task-token", token, "--task-output", "resume",
    )  # fmt: skip
    assert "not valid" in why
    still = served.wait(arn, parked=True)
    assert still["status"] == "RUNNING" and "awaiting" in still, "the gate still waits"
    assert still["states"] == parked["states"], "nothing ran on the refused answer"

    answer = {"decision": "resume", "operator": "ana", "reason": "checked", "acknowledge": FLAGGED}
    served.aws(
        "stepfunctions", "send-task-success", "--task-token", token,
        "--task-output", json.dumps(answer),
    )  # fmt: skip
    run = served.wait(arn)
    assert run["status"] == "SUCCEEDED", run
    assert incident not in served.selfheal("gates").stdout, "answered with the CLI: not listed"
    again = served.selfheal("approve", incident, "--operator", "bruno", "--reason", "late",
                            "--acknowledge", "ons-geracao")  # fmt: skip
    assert again.returncode != 0 and "Traceback" not in again.stderr
    assert "already" in again.stderr and incident in again.stderr, again.stderr


def test_send_task_failure_at_the_gate_escalates_and_stays_frozen(served: Served) -> None:
    """The gate answered with send-task-failure: never a resume; the incident is escalated
    (L1 and L2 paged) and ingestion stays frozen for people to finish."""
    event = load_event(SAMPLES / "freeze_ingestion.validation_failures_alarm.json")
    event["detail"]["state"]["timestamp"] = "2026-11-20T14:59:00.000+0000"  # a new incident
    served.put_events(event)
    runs = served.aws(
        "stepfunctions", "list-executions", "--state-machine-arn", served.arns["freeze_ingestion"],
        "--status-filter", "RUNNING",
    )["executions"]  # fmt: skip
    [arn] = [r["executionArn"] for r in runs]
    incident = served.wait(arn, parked=True)["incidentId"]
    served.aws(
        "stepfunctions", "send-task-failure", "--task-token", _gate_token(served, incident),
        "--error", "Operator.Refused", "--cause", "not now",
    )  # fmt: skip
    run = served.wait(arn)
    assert run["status"] == "FAILED" and "Resume" not in run["states"], run
    assert any(s.startswith("Escalate") for s in run["states"]), run["states"]
    rule = served.aws("events", "describe-rule", "--name", "ons-s3-processing-rule")
    assert rule["State"] == "DISABLED", "stays frozen"
    assert incident not in served.selfheal("gates").stdout
    # The error and cause given are kept: on the gate's TaskFailed event, as AWS records
    # them, and in the execution's cause (the workflow's Fail reads the caught error).
    history = served.aws("stepfunctions", "get-execution-history", "--execution-arn", arn)
    failed = [e["taskFailedEventDetails"] for e in history["events"] if e["type"] == "TaskFailed"]
    assert {"error": "Operator.Refused", "cause": "not now"} in [
        {k: d.get(k) for k in ("error", "cause")} for d in failed
    ], failed
    described = served.aws("stepfunctions", "describe-execution", "--execution-arn", arn)
    assert described["error"] == "selfheal.Failed"
    assert "(Operator.Refused: not now)" in described["cause"], described["cause"]
    assert "failed part way" not in described["cause"]


def test_kill_switch_put_with_the_cli_stops_the_next_action(served: Served) -> None:
    """The kill switch written with `aws dynamodb put-item` is read before the act."""
    switch = {
        "pk": {"S": "kill-switch"},
        "enabled": {"BOOL": True},
        "reason": {"S": "drill"},
        "actor": {"S": "cli"},
        "at": {"S": "2026-11-20T15:00:00+00:00"},
    }
    table = served.tables["guard_state"]
    served.aws("dynamodb", "put-item", "--table-name", table, "--item", json.dumps(switch))
    try:
        event = load_event(SAMPLES / "rollback_on_5xx.apigateway_5xx_alarm.json")
        served.put_events(event)
        runs = served.aws(
            "stepfunctions", "list-executions", "--state-machine-arn",
            served.arns["rollback_on_5xx"],
        )["executions"]  # fmt: skip
        assert runs
        run = served.wait(runs[0]["executionArn"])
        assert "SKIPPED_BY_GUARD" in [a["outcome"] for a in run["actions"]], run
        assert "FIXED" not in [a["outcome"] for a in run["actions"]]
    finally:
        switch["enabled"] = {"BOOL": False}
        served.aws("dynamodb", "put-item", "--table-name", table, "--item", json.dumps(switch))


def test_operator_commands_take_the_endpoint(served: Served) -> None:
    """`selfheal start`, `timeline`, `silence`, `kill-switch` with --endpoint-url only: the
    tables are found by name, the silence starts at the server's virtual "now"."""
    started = served.selfheal(
        "start", "fiscal_report",
        "--input", str(ROOT / "events/manual/fiscal_report.manual_request.json"),
    )  # fmt: skip
    assert started.returncode == 0, started.stderr
    arn = started.stdout.strip()
    run = served.wait(arn)
    timeline = served.selfheal("timeline", arn)
    assert timeline.returncode == 0, timeline.stderr
    assert f"{arn}  {run['status']}" in timeline.stdout and "STATE    Claim" in timeline.stdout
    for action in run["actions"]:
        assert f"OUTCOME  {action['name']}: {action['outcome']}" in timeline.stdout

    with urllib.request.urlopen(f"{served.endpoint}/_selfheal/clock", timeout=30) as r:
        now = datetime.fromisoformat(json.loads(r.read())["now"])
    silenced = served.selfheal("silence", "site:serve-test", "--minutes", "30", "--reason", "drill")
    assert silenced.returncode == 0, silenced.stderr
    until = (now + timedelta(minutes=30)).isoformat()
    assert f"until {until}" in silenced.stdout, "the server's virtual now, not the wall clock"
    bad = served.selfheal("silence", "*", "--minutes", "30", "--reason", "drill")
    assert bad.returncode != 0 and "Traceback" not in bad.stderr

    advanced = served.selfheal("clock", "advance", "90")
    assert advanced.returncode == 0, advanced.stderr
    assert datetime.fromisoformat(advanced.stdout.strip()) == now + timedelta(seconds=90)

    on = served.selfheal("kill-switch", "on", "--operator", "cli", "--reason", "drill")
    assert on.returncode == 0, on.stderr
    item = served.aws(
        "dynamodb", "get-item", "--table-name", served.tables["guard_state"],
        "--key", json.dumps({"pk": {"S": "kill-switch"}}),
    )["Item"]  # fmt: skip
    assert item["enabled"] == {"BOOL": True}
    assert (
        served.selfheal("kill-switch", "off", "--operator", "cli", "--reason", "done").returncode
        == 0
    )


#: Workflows that act on what a deployment registers (the demo world behind `serve` does
#: not): their manual run fails naming the missing registration.
NEEDS_REGISTRATION = {"maintenance_window": "/selfheal/platform/maintenance-window"}


@pytest.mark.parametrize(
    "manual", sorted(p.name for p in (ROOT / "events" / "manual").glob("*.json"))
)
def test_every_manual_input_runs_and_without_its_first_field_fails_naming_it(
    served: Served, manual: str
) -> None:
    """Each workflow's manual input (events/manual), as the README says to start it; the
    same input without a required field fails naming that field. A run that stops at a
    human gate is answered with `selfheal reject` over the endpoint."""
    workflow = manual.split(".", 1)[0]
    payload = json.loads((ROOT / "events" / "manual" / manual).read_text())
    start = ("stepfunctions", "start-execution", "--state-machine-arn", served.arns[workflow])
    arn = served.aws(*start, "--input", f"file://{ROOT / 'events' / 'manual' / manual}")[
        "executionArn"
    ]
    run = served.wait(arn, parked=True)
    expected = ("SUCCEEDED", None)
    if run["status"] == "RUNNING":
        assert "awaiting" in run, run
        rejected = served.selfheal(
            "reject", run["incidentId"], "--operator", "cli", "--reason", "test over"
        )
        assert rejected.returncode == 0, rejected.stderr
        run = served.wait(arn)
        expected = ("FAILED", "selfheal.KeptFrozen")  # the operator's answer, as designed
    if workflow in NEEDS_REGISTRATION:
        # What a deployment registers and the demo world does not: refused, naming it.
        expected = ("FAILED", "selfheal.Failed")
        history = served.aws("stepfunctions", "get-execution-history", "--execution-arn", arn)
        said = json.dumps(history["events"])
        assert NEEDS_REGISTRATION[workflow] in said, said[-2000:]
    assert (run["status"], run.get("error")) == expected, run

    field = next(iter(payload))
    missing = {k: v for k, v in payload.items() if k != field}
    bad = served.aws(*start, "--input", json.dumps(missing))["executionArn"]
    failed = served.wait(bad)
    assert failed["status"] == "FAILED"
    why = next(a["why"] for a in failed["actions"] if a["outcome"] == "FAILED")
    assert "InputInvalid" in why and field in why, why


# -- what AWS refuses, refused here with AWS's error codes (local/aws_validation.py) ----------

#: An entry no rule matches: the validations, not a workflow, are what these tests look at.
PROBE = {"Source": "selfheal.serve-test", "DetailType": "Probe", "Detail": "{}"}


def _execution_arns(served: Served, workflow: str) -> set[str]:
    runs = served.aws(
        "stepfunctions", "list-executions", "--state-machine-arn", served.arns[workflow]
    )["executions"]
    return {r["executionArn"] for r in runs}


def test_put_events_fails_a_bad_entry_alone_and_routes_the_others(served: Served) -> None:
    """Detail not JSON, or JSON but not an object: `MalformedDetail`; no Source:
    `InvalidArgument`; each with its message, counted in FailedEntryCount. The good entry
    is still routed by the rules (a JSON answer throughout, never an HTML page)."""
    ok = load_event(SAMPLES / "edge_alarm_intake.over_temperature_ok.json")
    good = {
        "Source": ok["source"],
        "DetailType": ok["detail-type"],
        "Detail": json.dumps(ok["detail"]),
        "Resources": ok["resources"],
    }
    no_source = {k: v for k, v in PROBE.items() if k != "Source"}
    entries = [{**PROBE, "Detail": "not json"}, {**PROBE, "Detail": "[1, 2]"}, no_source, good]
    before = _execution_arns(served, "edge_alarm_intake")
    out = served.aws("events", "put-events", "--entries", json.dumps(entries))
    assert out["FailedEntryCount"] == 3
    codes = [e.get("ErrorCode") for e in out["Entries"]]
    assert codes == ["MalformedDetail", "MalformedDetail", "InvalidArgument", None]
    assert "not an array" in out["Entries"][1]["ErrorMessage"]
    assert "Source" in out["Entries"][2]["ErrorMessage"]
    assert out["Entries"][0]["ErrorMessage"].startswith("Detail is malformed")
    [started] = _execution_arns(served, "edge_alarm_intake") - before
    assert served.wait(started)["status"] == "SUCCEEDED"
    assert "EventId" in out["Entries"][3]


def test_put_events_of_more_than_ten_entries_is_refused_whole(served: Served) -> None:
    why = served.aws_refused(
        "ValidationException", "PutEvents",
        "events", "put-events", "--entries", json.dumps([PROBE] * 11),
    )  # fmt: skip
    assert "less than or equal to 10" in why
    assert (
        served.aws("events", "put-events", "--entries", json.dumps([PROBE] * 10))[
            "FailedEntryCount"
        ]
        == 0
    )


def test_put_events_over_256_kb_of_entries_is_refused_whole(served: Served, tmp_path: Path) -> None:
    """256 KB counted by EventBridge's formula (Source, DetailType, Detail, Resources as
    UTF-8 bytes): a request at the limit is taken although its body is larger (the quotes
    in its Detail are escaped again in the body), one byte more is refused."""
    fixed = len(PROBE["Source"]) + len(PROBE["DetailType"])
    base = json.dumps({"q": '"' * 20_000, "p": ""})
    pad = "x" * (256 * 1024 - fixed - len(base))
    at_limit = {**PROBE, "Detail": json.dumps({"q": '"' * 20_000, "p": pad})}
    taken = tmp_path / "at_limit.json"
    taken.write_text(json.dumps([at_limit]))
    assert taken.stat().st_size > 256 * 1024
    out = served.aws("events", "put-events", "--entries", f"file://{taken}")
    assert out["FailedEntryCount"] == 0
    over = tmp_path / "over.json"
    over.write_text(json.dumps([{**at_limit, "Resources": ["x"]}]))
    why = served.aws_refused(
        "ValidationException", "PutEvents", "events", "put-events", "--entries", f"file://{over}"
    )
    assert "over the limit" in why and "262145" in why


def test_put_events_to_a_bus_that_does_not_exist_is_resource_not_found(served: Served) -> None:
    why = served.aws_refused(
        "ResourceNotFoundException", "PutEvents",
        "events", "put-events",
        "--entries", json.dumps([{**PROBE, "EventBusName": "selfheal-nowhere"}]),
    )  # fmt: skip
    assert "selfheal-nowhere does not exist" in why
    on_edge = [{**PROBE, "EventBusName": "selfheal-edge"}]  # the core stack's bus
    assert (
        served.aws("events", "put-events", "--entries", json.dumps(on_edge))["FailedEntryCount"]
        == 0
    )


@pytest.mark.parametrize(
    ("name", "code"),
    [
        ("manual request", "InvalidName"),
        ("manual/1", "InvalidName"),
        ("manual\u00071", "InvalidName"),
        ("m" * 81, "ValidationException"),  # the model's length constraint, as AWS answers it
    ],
    ids=["whitespace", "slash", "control", "81-chars"],
)
def test_start_execution_refuses_a_bad_name(served: Served, name: str, code: str) -> None:
    arn = served.arns["retrain_model"]
    manual = ROOT / "events" / "manual" / "retrain_model.manual_request.json"
    why = served.aws_refused(
        code, "StartExecution",
        "stepfunctions", "start-execution", "--state-machine-arn", arn,
        "--name", name, "--input", f"file://{manual}",
    )  # fmt: skip
    assert "name" in why.lower()
    names = {a.rsplit(":", 1)[-1] for a in _execution_arns(served, "retrain_model")}
    assert name not in names


def test_start_execution_refuses_input_not_json_or_over_256_kb(
    served: Served, tmp_path: Path
) -> None:
    arn = served.arns["retrain_model"]
    start = ("stepfunctions", "start-execution", "--state-machine-arn", arn)
    why = served.aws_refused("InvalidExecutionInput", "StartExecution", *start, "--input", "{no")
    assert "Invalid State Machine Execution Input" in why
    big = tmp_path / "big.json"
    big.write_text(json.dumps({"systemId": "bess-456", "notes": "x" * (256 * 1024)}))
    why = served.aws_refused(
        "InvalidExecutionInput", "StartExecution", *start, "--input", f"file://{big}"
    )
    assert "at most 262144" in why


def _pages(served: Served) -> list[dict[str, Any]]:
    """Every page the HTTP subscriber on the topics received, each with its topic level
    (`/_selfheal/pages`: what SNS delivered, as a paging service sees it)."""
    with urllib.request.urlopen(f"{served.endpoint}/_selfheal/pages", timeout=30) as r:
        delivered = json.loads(r.read())["pages"]
    return [{"topic": p["level"], "subject": p["subject"], **p["message"]} for p in delivered]


def test_an_array_input_fails_in_the_workflow_with_its_cause_and_pages(served: Served) -> None:
    """Step Functions takes any JSON as an input; the workflow's first state refuses one that
    is not an object, naming `$`, pages, and the execution fails keeping that cause."""
    arn = served.aws(
        "stepfunctions", "start-execution", "--state-machine-arn", served.arns["retrain_model"],
        "--input", "[1, 2]",
    )["executionArn"]  # fmt: skip
    run = served.wait(arn)
    assert run["status"] == "FAILED"
    assert run["states"] == ["Claim", "ClaimFailed", "EscalateFailure", "Failed"], run["states"]
    problem = "$: a JSON object is required, not an array"
    described = served.aws("stepfunctions", "describe-execution", "--execution-arn", arn)
    assert described["error"] == "selfheal.Failed"
    assert problem in described["cause"] and "InputInvalid" in described["cause"]
    paged = [p for p in _pages(served) if p.get("execution") == arn]
    assert {p["topic"] for p in paged} >= {"l1"}, paged
    assert all(p["outcome"] == "FAILED" and problem in p["reason"] for p in paged), paged


@pytest.mark.parametrize("seconds", ["1e12", "nan", "inf", "-5"])
def test_an_absurd_clock_step_is_refused_saying_why(served: Served, seconds: str) -> None:
    """The control endpoint answers 400 with a JSON error, `selfheal clock advance` says it
    and exits non-zero, and virtual time has not moved."""
    before = served.control("clock")["now"]
    request = urllib.request.Request(
        f"{served.endpoint}/_selfheal/clock/advance?seconds={seconds}", method="POST"
    )
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=30)
    assert refused.value.code == 400
    why = json.loads(refused.value.read())["error"]
    assert why.startswith("seconds: ")
    cli = served.selfheal("clock", "advance", seconds)
    assert cli.returncode != 0 and "Traceback" not in cli.stderr, cli.stderr
    assert f"selfheal: clock advance refused: {why}" in cli.stderr, cli.stderr
    assert served.control("clock")["now"] == before


def test_hostile_entries_are_answered_and_what_enters_a_workflow_is_paged(
    served: Served,
) -> None:
    """Issue 19: a Detail nested 300 deep (JSON, which EventBridge takes) broke the routing
    with an InternalFailure; it is put, and its target, which Step Functions refuses here,
    is dead-lettered. An alarm stamped year 9999 enters its workflow, whose first state
    refuses it naming the field, and is paged: never a bare FAILED."""
    deep, far = load_event(FIVE_XX), load_event(FIVE_XX)
    node: Any = "bottom"
    for _ in range(300):
        node = {"x": node}
    deep["detail"]["extra"] = node
    far["detail"]["state"]["timestamp"] = "9999-12-31T23:59:59.000+0000"
    entries = [
        {"Source": e["source"], "DetailType": e["detail-type"], "Detail": json.dumps(e["detail"])}
        for e in (deep, far)
    ]
    before = _execution_arns(served, "rollback_on_5xx")
    out = served.aws("events", "put-events", "--entries", json.dumps(entries))

    assert out["FailedEntryCount"] == 0, out
    [started] = _execution_arns(served, "rollback_on_5xx") - before
    run = served.wait(started)
    assert run["status"] == "FAILED", run
    assert "detail.state.timestamp: date out of range" in run["cause"], run["cause"]
    assert [a["name"] for a in run["actions"]] == ["rollback_on_5xx", "escalate"]


#: What an operator sends: the runbook's lines, as the compose project's user in its folder
#: (SSM itself runs as root elsewhere, with no `.env`).
_EQUIVALENCE = service_spec.get("equivalence-api").ssm
assert _EQUIVALENCE is not None
COMMANDS = _EQUIVALENCE.shell(
    ["docker compose ps web", "redis-cli -u \"$(sed -n 's/^REDIS_URL=//p' .env)\" ping"]
)


def test_the_managed_hosts_answer_the_cli_and_a_command_really_runs_there(served: Served) -> None:
    """Issue 21: `aws ssm describe-instance-information` lists the hosts `serve` registered,
    and `aws ssm send-command` runs on one for real (its output is the host's own), while
    a document SSM does not hold is refused with SSM's code."""
    info = served.aws("ssm", "describe-instance-information")["InstanceInformationList"]
    [host] = [i for i in info if i["Name"] == "equivalence"]
    assert host["InstanceId"].startswith("mi-") and host["PingStatus"] == "Online"
    sent = served.aws(
        "ssm", "send-command", "--document-name", "AWS-RunShellScript",
        "--targets", "Key=tag:selfheal:host,Values=equivalence",
        "--parameters", json.dumps({"commands": COMMANDS}),
    )["Command"]  # fmt: skip
    got = served.aws(
        "ssm", "get-command-invocation", "--command-id", sent["CommandId"],
        "--instance-id", host["InstanceId"],
    )  # fmt: skip
    assert got["Status"] == "Success", got
    assert "equivalence-web-1" in got["StandardOutputContent"]
    assert got["StandardOutputContent"].rstrip().endswith("PONG")
    message = served.aws_refused(
        "InvalidDocument", "SendCommand", "ssm", "send-command",
        "--document-name", "NoSuchDocument", "--instance-ids", host["InstanceId"],
    )  # fmt: skip
    assert "NoSuchDocument" in message


def test_the_clock_holds_only_in_scheduler_mode(served: Served) -> None:
    """`/_selfheal/clock/hold` needs `selfheal serve --scheduler` (Wait states that take
    virtual time); without it the server says so instead of holding nothing."""
    request = urllib.request.Request(
        f"{served.endpoint}/_selfheal/clock/hold?until=2026-11-20T15:20:00%2B00:00",
        method="POST",
    )
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=30)
    assert refused.value.code == 400
    assert "--scheduler" in json.loads(refused.value.read())["error"]
