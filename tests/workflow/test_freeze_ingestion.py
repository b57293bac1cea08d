"""freeze_ingestion end to end: real rule and ASL on moto, the human gate answered
the way an operator would (`selfheal approve` / send-task-success), the scope's records in
a real InfluxDB this module starts (one `influxd` for the module, its own data dir and
port)."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from botocore.exceptions import ClientError

from local import influx
from local.runtime import Pipeline
from local.worlds import WorldSpec
from tests.helpers import SAMPLES, load_event

ALARM = SAMPLES / "freeze_ingestion.validation_failures_alarm.json"
MANUAL = {
    "reason": "values doubled since 03:00",
    "scope": "ons-platform",
    "requestedBy": "ops-oncall",
}


@pytest.fixture(scope="module", autouse=True)
def store() -> Iterator[influx.InfluxServer]:
    """The time-series store every pipeline of this module writes its records to."""
    server = influx.InfluxServer().start()
    influx.use(server)
    yield server
    influx.use(None)
    server.close()


@pytest.fixture
def p(make_pipeline: Any, ingestion_world_spec: WorldSpec) -> Pipeline:
    return make_pipeline(world_spec=ingestion_world_spec)


def state(p: Pipeline) -> dict[str, Any]:
    return p.world.ingestion_state(p, p.world.spec.ingestion[0])


def manifest(p: Pipeline) -> dict[str, Any]:
    [rec] = [r for r in p.audit_records() if r["action"] == "freeze_manifest"]
    return json.loads(rec["details"])


RUNNING_BEFORE = {"ons-processing": 2, "ons-reporting": 2}
#: What the integrity check flags in the demo world (ons-geracao sends 2.5x its usual).
FLAGGED = ("ons-geracao",)


@pytest.mark.procedure("D3", "stop processing: rules, executions, mappings of the scope only")
def test_freeze_stops_tagged_ingestion_only_and_waits_at_the_gate(p: Pipeline) -> None:
    before = state(p)
    assert before["running"] == RUNNING_BEFORE
    [arn] = p.put_event(load_event(ALARM))
    assert p.wait([arn], until_parked=True) == [arn]

    after = state(p)
    assert after["rules"] == {
        "ons-s3-processing-rule": "DISABLED",
        "ons-api-ingest-rule": "DISABLED",
        "ons-reporting-rule": "ENABLED",
    }
    assert after["running"] == {"ons-processing": 0, "ons-reporting": 2}
    assert after["mappings"] == {"ons-influxdb-loader": "Disabled", "ons-metrics-loader": "Enabled"}
    m = manifest(p)
    assert sorted(r["name"] for r in m["rules"]) == [
        "ons-api-ingest-rule",
        "ons-s3-processing-rule",
    ]
    assert len(m["executions"]) == 2 and all(
        "ons-processing" in e["stateMachineArn"] for e in m["executions"]
    )
    assert [x["function"] for x in m["mappings"]] == ["ons-influxdb-loader"]
    assert m["integrity"]["suspicious"] == ["ons-geracao"]
    assert {n["level"] for n in p.notifications()} == {"l1", "l2"}
    assert p.execution_summary(arn)["status"] == "RUNNING"


@pytest.mark.procedure("D3", "verify integrity over the last 24 h rolling")
def test_integrity_at_two_in_the_morning_reads_the_last_24_hours(
    make_pipeline: Any, ingestion_world_spec: WorldSpec
) -> None:
    """Runbook 001 "Verificar integridade dos dados": `|> range(start: -24h)`. At 02:00 UTC
    the calendar day holds two hours; the last 24 h against the same 24 h of the previous
    days flags only the source whose volume really changed."""
    p = make_pipeline(world_spec=ingestion_world_spec, start=datetime(2026, 11, 20, 2, tzinfo=UTC))
    [arn] = p.put_event(load_event(ALARM), rebase=True)
    p.wait([arn], until_parked=True)

    integrity = manifest(p)["integrity"]
    assert integrity["window"] == {
        "start": "2026-11-19T02:00:00+00:00",
        "end": "2026-11-20T02:00:00+00:00",
    }
    assert integrity["suspicious"] == ["ons-geracao"]
    ratios = {s["source"]: s["ratio"] for s in integrity["sources"]}
    assert ratios == {"ons-carga": 1.0, "ons-geracao": 2.5, "ons-intercambio": 1.0}
    # What was counted is said as such: the store's records, not the bucket's objects.
    [check] = [r for r in p.audit_records() if r["action"] == "integrity_check"]
    assert check["why"].startswith(
        "records (points with value in energy) per source in the time-series store from "
        "2026-11-19T02:00:00+00:00 to 2026-11-20T02:00:00+00:00"
    )


def _registration(p: Pipeline) -> dict[str, Any]:
    value = p.client("ssm").get_parameter(Name="/selfheal/data/timeseries/ons-platform")
    return dict(json.loads(value["Parameter"]["Value"]))


@pytest.mark.procedure(
    "D3", "verify integrity: records of the last 24 h counted in the time-series store"
)
def test_integrity_counts_the_stores_records_and_shows_a_drop_at_the_gate(
    make_pipeline: Any, ingestion_world_spec: WorldSpec, store: influx.InfluxServer
) -> None:
    """Runbook 001 "Verificar integridade dos dados": `from(bucket: "energy_data") |>
    range(start: -24h) |> count()`. The loader lost four fifths of ons-carga's records
    while its objects still reached the bucket: counting objects sees nothing wrong;
    counting the store's records flags the drop, and the people at the gate see it."""
    [ing] = ingestion_world_spec.ingestion
    assert ing.timeSeries is not None
    ing.timeSeries.todayFactor = {"ons-carga": 0.2}
    p = make_pipeline(world_spec=ingestion_world_spec)
    [arn] = p.put_event(load_event(ALARM))
    assert p.wait([arn], until_parked=True) == [arn]

    integrity = manifest(p)["integrity"]
    assert integrity["verified"] is True
    assert integrity["suspicious"] == ["ons-carga", "ons-geracao"]
    counts = {s["source"]: (s["last24h"], s["baseline"]) for s in integrity["sources"]}
    assert counts == {"ons-carga": (1, 6), "ons-geracao": (15, 6), "ons-intercambio": (4, 4)}
    # The same figure the store gives anyone who asks it over the same 24 h.
    window = integrity["window"]
    direct = store.query(
        f"SELECT count(value) FROM energy WHERE time >= '{window['start']}' AND "
        f"time < '{window['end']}' AND source = 'ons-carga'",
        db=_registration(p)["database"],
    )
    assert direct["results"][0]["series"][0]["values"][0][1] == 1
    [gate] = [n for n in p.notifications() if n["level"] == "l1" and "FROZEN" in n["subject"]]
    assert gate["message"]["integrityFlagged"] == ["ons-carga", "ons-geracao"]
    assert (
        "ons-carga: 1 in the last 24 h, usual 6 (0.167x)  SUSPICIOUS"
        in (gate["message"]["integrity"])
    )
    assert (
        "--acknowledge ons-carga --acknowledge ons-geracao" in gate["message"]["decide"]["resume"]
    )
    [check] = [r for r in p.audit_records() if r["action"] == "integrity_check"]
    assert (
        check["result"]
        == "20 records in the last 24 h; 2 suspicious sources: ons-carga, ons-geracao"
    )

    p.decide(arn, "resume", "ana", "geracao checked", ("ons-geracao",))
    assert p.wait([arn], until_parked=True) == [arn], "the drop not acknowledged: asked again"
    assert state(p)["rules"]["ons-s3-processing-rule"] == "DISABLED"


def _store_down(p: Pipeline, store: influx.InfluxServer) -> str:
    store.stop()
    return "did not answer"


def _not_registered(p: Pipeline, store: influx.InfluxServer) -> str:
    p.client("ssm").delete_parameter(Name="/selfheal/data/timeseries/ons-platform")
    return "no time-series store registered"


def _credentials_refused(p: Pipeline, store: influx.InfluxServer) -> str:
    secret = _registration(p)["secretArn"]
    p.client("secretsmanager").put_secret_value(
        SecretId=secret, SecretString=json.dumps({"username": "reader", "password": "stale"})
    )
    return "answered 401"


@pytest.mark.procedure("D3", "time-series store unavailable: cannot verify, paged, stays frozen")
@pytest.mark.parametrize(
    "breakage", [_store_down, _not_registered, _credentials_refused],
    ids=["store-down", "not-registered", "credentials-refused"],
)  # fmt: skip
def test_records_that_cannot_be_counted_are_paged_and_never_resumed_unacknowledged(
    p: Pipeline, store: influx.InfluxServer, breakage: Any
) -> None:
    """Issue 22 #12: a check that cannot run must not pass silently. "Cannot verify" is
    recorded and paged at once, the scope stays frozen, and the gate refuses a resume that
    does not say it goes ahead without the check."""
    said = breakage(p, store)
    try:
        [arn] = p.put_event(load_event(ALARM))
        assert p.wait([arn], until_parked=True) == [arn]
    finally:
        if not store.running():
            store.start()

    [check] = [r for r in p.audit_records() if r["action"] == "integrity_check"]
    assert check["result"] == "cannot verify: no records were counted; ons-platform stays frozen"
    assert said in check["why"]
    run = p.execution_summary(arn)
    assert "EscalateUnverified" in run["states"] and run["status"] == "RUNNING"
    pages = [n for n in p.notifications() if "ESCALATION" in (n["subject"] or "")]
    assert {n["level"] for n in pages} == {"l1", "l2"}
    assert "cannot verify the integrity of ons-platform" in pages[0]["message"]["reason"]
    assert said in pages[0]["message"]["reason"]
    m = manifest(p)["integrity"]
    assert m["verified"] is False and m["sources"] == [] and said in m["problem"]
    [gate] = [n for n in p.notifications() if n["level"] == "l1" and "FROZEN" in n["subject"]]
    assert gate["message"]["integrityVerified"] is False
    assert gate["message"]["integrity"][0].startswith("NOT VERIFIED: no records were counted")
    assert state(p)["rules"]["ons-s3-processing-rule"] == "DISABLED"

    p.decide(arn, "resume", "auto", "looks fine")  # an answer that did not read the check
    assert p.wait([arn], until_parked=True) == [arn]
    refused = next(r for r in p.audit_records() if r["action"] == "gate_answer_rejected")
    assert "could not count the records" in refused["why"]
    assert state(p)["rules"]["ons-s3-processing-rule"] == "DISABLED"
    assert not [r for r in p.audit_records() if r["action"] == "resume_ingestion"]

    p.decide(arn, "resume", "ana", "counted by hand", ("integrity-unverified",))
    p.wait([arn])
    assert p.execution_summary(arn)["status"] == "SUCCEEDED", "a person may, knowingly"


@pytest.mark.procedure("D3", "snapshot the processed bucket (GLACIER), verified object by object")
def test_snapshot_is_verified_object_by_object_in_glacier(p: Pipeline) -> None:
    [arn] = p.put_event(load_event(ALARM))
    p.wait([arn], until_parked=True)
    s3 = p.client("s3")
    snap = manifest(p)["snapshot"]
    source = {o["Key"]: o for o in s3.list_objects_v2(Bucket="ons-processed")["Contents"]}
    copies = {
        o["Key"][len(snap["prefix"]) :]: o
        for o in s3.list_objects_v2(Bucket=snap["bucket"], Prefix=snap["prefix"])["Contents"]
    }
    assert snap["objects"] == snap["verified"] == len(source) == len(copies)
    for key, obj in source.items():
        assert copies[key]["ETag"] == obj["ETag"] and copies[key]["Size"] == obj["Size"]
        assert copies[key]["StorageClass"] == "GLACIER"
    assert snap["prefix"].startswith("ons-platform/") and "/freeze_ingestion-" in snap["prefix"]


def test_snapshot_copies_in_pages(p: Pipeline, monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    from local.lambda_adapter import load_handler

    load_handler(p.spec.functions["freeze_snapshot"])
    monkeypatch.setattr(sys.modules["selfheal_fn_freeze_snapshot"], "PAGE", 40)
    [arn] = p.put_event(load_event(ALARM))
    p.wait([arn], until_parked=True)
    states = p.execution_summary(arn)["states"]
    assert states.count("SnapshotPage") == 4  # 137 objects, 40 a page
    assert manifest(p)["snapshot"]["verified"] == 137


@pytest.mark.procedure("D3", "human resume: exactly the manifest re-enabled")
def test_approve_resumes_exactly_the_manifest(p: Pipeline) -> None:
    events = p.client("events")
    events.disable_rule(Name="ons-api-ingest-rule")  # off before the freeze: must stay off
    [run] = p.run_event(
        load_event(ALARM), gate_decision="resume", operator="ana", acknowledge=FLAGGED
    )

    assert run["status"] == "SUCCEEDED"
    after = state(p)
    assert after["rules"] == {
        "ons-s3-processing-rule": "ENABLED",
        "ons-api-ingest-rule": "DISABLED",
        "ons-reporting-rule": "ENABLED",
    }
    assert after["mappings"]["ons-influxdb-loader"] == "Enabled"
    assert [r["name"] for r in manifest(p)["rules"]] == ["ons-s3-processing-rule"]
    assert {"name": "resume_ingestion", "outcome": "FIXED"}.items() <= run["actions"][-1].items()
    resume = next(r for r in p.audit_records() if r["action"] == "resume_ingestion")
    assert "ana" in resume["why"]
    assert "frozen#ons-platform" not in _guard_keys(p), "the freeze lock is released"


@pytest.mark.procedure("D3", "resume re-drives the stopped executions")
def test_resume_re_drives_the_stopped_executions_with_their_input(p: Pipeline) -> None:
    """Runbook 001 "Parar execuções do Step Functions ... stop-execution": what was stopped
    is started again on resume, with its original input, or the outcome is not FIXED."""
    sfn = p.client("stepfunctions")
    [arn] = p.put_event(load_event(ALARM))
    p.wait([arn], until_parked=True)
    stopped = manifest(p)["executions"]
    inputs = {
        e["executionArn"]: sfn.describe_execution(executionArn=e["executionArn"])["input"]
        for e in stopped
    }
    p.decide(arn, "resume", "ana", "values checked with the source", FLAGGED)
    p.wait([arn])

    run = p.execution_summary(arn)
    assert run["status"] == "SUCCEEDED"
    assert state(p)["running"] == RUNNING_BEFORE
    redrives = [
        json.loads(r["details"]) for r in p.audit_records() if r["action"] == "redrive_executions"
    ]
    assert sorted(r["from"] for r in redrives) == sorted(inputs)
    for r in redrives:
        assert sfn.describe_execution(executionArn=r["to"])["input"] == inputs[r["from"]]
    resume = next(r for r in p.audit_records() if r["action"] == "resume_ingestion")
    assert "re-drove 2 of 2 stopped executions" in resume["result"]


@pytest.mark.procedure("D3", "re-drive impossible: NOT_FIXED with the list")
def test_executions_that_cannot_be_re_driven_are_not_fixed_with_the_list(p: Pipeline) -> None:
    """Runbook 001: what was stopped must come back; when it cannot, people get the list."""
    sfn = p.client("stepfunctions")
    [arn] = p.put_event(load_event(ALARM))
    p.wait([arn], until_parked=True)
    machine = manifest(p)["executions"][0]["stateMachineArn"]
    sfn.delete_state_machine(stateMachineArn=machine)  # redeployed while frozen
    p.decide(arn, "resume", "ana", "values checked with the source", FLAGGED)
    p.wait([arn])

    run = p.execution_summary(arn)
    assert run["status"] == "FAILED" and run["error"] == "selfheal.ResumeIncomplete"
    assert "NotifyResumed" not in run["states"]
    assert "FIXED" not in [a["outcome"] for a in run["actions"]]
    [page, *_] = [n for n in p.notifications() if "ESCALATION" in (n["subject"] or "")]
    assert page["message"]["outcome"] == "NOT_FIXED"
    assert "re-drove 0 of 2" in page["message"]["reason"]
    assert "ons-processing-batch-0" in page["message"]["reason"]
    assert p.client("events").describe_rule(Name="ons-s3-processing-rule")["State"] == "ENABLED"


def _guard_keys(p: Pipeline) -> set[str]:
    return {
        i["pk"]["S"] for i in p.client("dynamodb").scan(TableName=p.tables["guard_state"])["Items"]
    }


@pytest.mark.procedure("D3", "human keeps it frozen: escalated")
def test_reject_keeps_it_frozen_and_escalates(p: Pipeline) -> None:
    [run] = p.run_event(load_event(ALARM), gate_decision="keep_frozen", operator="bruno")

    assert run["status"] == "FAILED" and run["error"] == "selfheal.KeptFrozen"
    assert state(p)["rules"]["ons-s3-processing-rule"] == "DISABLED"
    assert state(p)["mappings"]["ons-influxdb-loader"] == "Disabled"
    pages = [n for n in p.notifications() if "ESCALATION" in (n["subject"] or "")]
    assert {n["level"] for n in pages} == {"l1", "l2"}
    assert "bruno kept ons-platform frozen" in pages[0]["message"]["reason"]


@pytest.mark.procedure("D3", "no answer in 24 h: escalated, stays frozen")
def test_gate_timeout_escalates_never_resumes(p: Pipeline) -> None:
    [arn] = p.put_event(load_event(ALARM))
    p.wait([arn], until_parked=True)
    p.clock.advance(25 * 3600)
    p.wait([arn])
    run = p.execution_summary(arn)

    assert run["status"] == "FAILED" and run["error"] == "selfheal.GateTimedOut"
    assert "Resume" not in run["states"]
    assert state(p)["rules"]["ons-s3-processing-rule"] == "DISABLED"
    assert {n["level"] for n in p.notifications() if "ESCALATION" in n["subject"]} == {
        "l1",
        "l2",
        "l3",
    }


@pytest.mark.procedure("D3", "alarm delivered twice: one freeze")
def test_duplicate_alarm_is_one_freeze(p: Pipeline) -> None:
    first = load_event(ALARM)
    second = copy.deepcopy(first)
    second["id"] = "redelivered"
    [a] = p.put_event(first)
    p.wait([a], until_parked=True)
    [b] = p.put_event(second)
    p.wait([b], until_parked=True)

    run = p.execution_summary(b)
    assert run["status"] == "SUCCEEDED"
    assert run["states"] == ["Claim", "IsDuplicate", "Duplicate"], "the redelivery ends at once"
    assert run["actions"] == [] and run["steps"] == []
    frozen = [r for r in p.audit_records() if r["action"] == "freeze_rules"]
    assert len(frozen) == 2, "each of the two enabled rules stopped once"


@pytest.mark.procedure("D3", "scope already frozen: skipped, said so")
def test_second_alarm_on_a_frozen_scope_is_already_frozen(p: Pipeline) -> None:
    first = load_event(ALARM)
    second = copy.deepcopy(first)
    second["detail"]["state"]["timestamp"] = "2026-11-20T06:30:00.000+0000"  # a new transition
    [a] = p.put_event(first)
    p.wait([a], until_parked=True)
    [b] = p.put_event(second)
    p.wait([b], until_parked=True)

    run = p.execution_summary(b)
    assert run["status"] == "SUCCEEDED" and run["states"][-1] == "WasAlreadyFrozen"
    assert [x["outcome"] for x in run["actions"]] == ["SKIPPED_BY_GUARD"]
    assert "already frozen" in run["actions"][0]["why"]
    assert len([r for r in p.audit_records() if r["action"] == "freeze_rules"]) == 2


@pytest.mark.procedure("D3", "manual trigger")
def test_manual_freeze_with_valid_input(p: Pipeline) -> None:
    arn = p.start_manual("freeze_ingestion", MANUAL)
    assert p.wait([arn], until_parked=True) == [arn]
    assert state(p)["rules"]["ons-s3-processing-rule"] == "DISABLED"
    assert manifest(p)["requestedBy"] == "ops-oncall"


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({**MANUAL, "scope": "*"}, "scope"),
        ({**MANUAL, "scope": ""}, "scope"),
        ({k: v for k, v in MANUAL.items() if k != "requestedBy"}, "requestedBy"),
        ({**MANUAL, "reason": 42}, "reason"),
        ({**MANUAL, "force": True}, "force"),
    ],
    ids=["wildcard-scope", "empty-scope", "no-requester", "reason-not-text", "unknown-field"],
)
@pytest.mark.procedure("D3", "bad manual input: rejected naming the field")
def test_bad_manual_input_fails_naming_the_field(p: Pipeline, payload: dict, field: str) -> None:
    arn = p.start_manual("freeze_ingestion", payload)
    p.wait([arn])
    run = p.execution_summary(arn)

    assert run["status"] == "FAILED"
    failed = next(a for a in run["actions"] if a["outcome"] == "FAILED")
    assert "InputInvalid" in failed["why"] and field in failed["why"]
    assert state(p)["rules"]["ons-s3-processing-rule"] == "ENABLED"
    assert (
        run["states"][:3] == ["Claim", "IsDuplicate", "Normalize"]
        and "DisableRules" not in run["states"]
    )


@pytest.mark.procedure("D3", "nothing tagged for the scope: error, nothing changed")
def test_empty_discovery_is_an_error_and_changes_nothing(p: Pipeline) -> None:
    arn = p.start_manual("freeze_ingestion", {**MANUAL, "scope": "no-such-platform"})
    p.wait([arn])
    run = p.execution_summary(arn)

    assert run["status"] == "FAILED"
    assert "NothingFound" in next(a["why"] for a in run["actions"] if a["outcome"] == "FAILED")
    assert state(p)["rules"] == {
        "ons-s3-processing-rule": "ENABLED",
        "ons-api-ingest-rule": "ENABLED",
        "ons-reporting-rule": "ENABLED",
    }
    assert state(p)["running"] == RUNNING_BEFORE


@pytest.mark.procedure("D3", "snapshot fails: escalated with what was done, stays frozen")
def test_throttled_copy_is_retried_then_escalated_with_what_was_done(
    p: Pipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    from selfheal_shared.core import bucket_copy, clients

    real_client = clients.client
    attempts: list[int] = []

    class ThrottledS3:
        def __init__(self, inner: Any) -> None:
            self._inner = inner

        def copy_object(self, **kwargs: Any) -> Any:
            attempts.append(1)
            raise ClientError(
                {"Error": {"Code": "SlowDown", "Message": "Please reduce your request rate."}},
                "CopyObject",
            )

        def __getattr__(self, name: str) -> Any:
            return getattr(self._inner, name)

    monkeypatch.setattr(  # the snapshot's copies (core/bucket_copy) are throttled
        bucket_copy,
        "client",
        lambda service: ThrottledS3(real_client("s3")) if service == "s3" else real_client(service),
    )
    [run] = p.run_event(load_event(ALARM))

    assert run["status"] == "FAILED" and run["error"] == "selfheal.Failed"
    assert len(attempts) == 4, "first try and three retries with backoff"
    failed = next(r for r in p.audit_records(run["executionArn"]) if r.get("outcome") == "FAILED")
    done = json.loads(failed["details"])["doneBeforeStopping"]
    assert done["rules"]["count"] == 2 and done["executions"]["count"] == 2
    assert done["mappings"]["count"] == 1 and "verification" not in done
    assert "Transient" in failed["why"] and "throttled" in failed["why"]
    assert state(p)["rules"]["ons-s3-processing-rule"] == "DISABLED", (
        "stays frozen for people to finish"
    )


@pytest.mark.procedure("D3", "kill switch: nothing frozen")
def test_kill_switch_freezes_nothing(p: Pipeline) -> None:
    from selfheal_shared.core import guards

    guards.set_switch(guards.KILL_SWITCH, enabled=True, reason="drill", actor="test")
    [run] = p.run_event(load_event(ALARM))
    assert [a["outcome"] for a in run["actions"]] == ["SKIPPED_BY_GUARD", "ESCALATED"]
    assert state(p)["rules"]["ons-s3-processing-rule"] == "ENABLED"
    # Issue 19: nothing frozen while bad data may still arrive is paged (refusals.py).
    assert run["status"] == "SUCCEEDED" and run["states"][-2:] == ["EscalateSkipped", "Skipped"]
    [page] = [n for n in p.notifications() if n["level"] == "l1"]
    assert page["message"]["refusal"]["guard"] == "kill_switch"


def test_no_object_is_deleted(p: Pipeline) -> None:
    s3 = p.client("s3")
    before = {o["Key"] for o in s3.list_objects_v2(Bucket="ons-processed")["Contents"]}
    p.run_event(load_event(ALARM), gate_decision="resume", operator="ana", acknowledge=FLAGGED)
    after = {o["Key"] for o in s3.list_objects_v2(Bucket="ons-processed")["Contents"]}
    assert after == before


def test_cli_approve_answers_the_gate_and_refuses_a_second_answer(
    p: Pipeline, capsys: pytest.CaptureFixture[str]
) -> None:
    from local.cli import main

    [arn] = p.put_event(load_event(ALARM))
    p.wait([arn], until_parked=True)
    incident = p.parked()[arn]
    assert main(["gates"]) == 0 and incident in capsys.readouterr().out
    assert main(["approve", incident, "--operator", "carla", "--reason", "checked",
                 "--acknowledge", "ons-geracao"]) == 0  # fmt: skip
    p.wait([arn])
    assert p.execution_summary(arn)["status"] == "SUCCEEDED"
    with pytest.raises(SystemExit, match="already decided"):
        main(["reject", incident, "--operator", "dave", "--reason", "late"])


def test_aws_cli_style_send_task_success_works(p: Pipeline) -> None:
    """An operator without selfheal: the token from the guard table and send-task-success."""
    [arn] = p.put_event(load_event(ALARM))
    p.wait([arn], until_parked=True)
    incident = p.parked()[arn]
    item = p.client("dynamodb").get_item(
        TableName=p.tables["guard_state"], Key={"pk": {"S": f"gate#{incident}"}}
    )["Item"]
    p.client("stepfunctions").send_task_success(
        taskToken=item["token"]["S"],
        output=json.dumps(
            {
                "decision": "resume",
                "operator": "eve",
                "reason": "source re-sent clean data",
                "acknowledge": ["ons-geracao"],
            }
        ),
    )
    p.wait([arn])
    assert p.execution_summary(arn)["status"] == "SUCCEEDED"
    assert state(p)["rules"]["ons-s3-processing-rule"] == "ENABLED"
    assert incident not in p.parked().values(), "answered: `selfheal gates` lists it no more"


def test_approve_after_a_cli_answer_says_the_gate_no_longer_waits(
    p: Pipeline, capsys: pytest.CaptureFixture[str]
) -> None:
    """A gate answered with send-task-success whose record `selfheal approve` still reads
    (the workflow has not closed it yet): a clear refusal, not an InvalidToken traceback."""
    from local.cli import main

    [arn] = p.put_event(load_event(ALARM))
    p.wait([arn], until_parked=True)
    incident = p.parked()[arn]
    token = _gate_token(p, incident)
    p.client("stepfunctions").send_task_failure(taskToken=token, error="Operator", cause="no")
    p.wait([arn])
    p.client("dynamodb").update_item(  # as if read before the workflow closed it
        TableName=p.tables["guard_state"],
        Key={"pk": {"S": f"gate#{incident}"}},
        UpdateExpression="REMOVE decidedAt",
    )
    assert incident in p.parked().values()
    with pytest.raises(SystemExit, match="no longer waits: it was already answered"):
        main(["approve", incident, "--operator", "carla", "--reason", "late",
              "--acknowledge", "ons-geracao"])  # fmt: skip
    assert incident not in p.parked().values(), "closed by the refused approve"
    assert main(["gates"]) == 0 and incident not in capsys.readouterr().out


def _gate_token(p: Pipeline, incident: str) -> str:
    """Read by incident: between an answer and the gate's next question the gate is closed
    (not `parked()`), and a refused answer parks it again with a new token."""
    item = p.client("dynamodb").get_item(
        TableName=p.tables["guard_state"], Key={"pk": {"S": f"gate#{incident}"}}
    )["Item"]
    return str(item["token"]["S"])


@pytest.mark.procedure("D3", "malformed gate answer: rejected, paged, gate open")
@pytest.mark.parametrize(
    ("answer", "field"),
    [
        ({"decision": "keep_frozen", "operator": "bruno"}, "reason"),
        ({"decision": "keep_frozen", "operator": 42, "reason": "bad data"}, "operator"),
        ({"decision": "yolo", "operator": "bruno", "reason": "why not"}, "decision"),
        ({"decision": ["resume"], "operator": "bruno", "reason": "why not"}, "decision"),
        ("resume", "<root>"),
    ],
    ids=["no-reason", "operator-not-text", "unknown-decision", "decision-not-text", "not-object"],
)
def test_a_malformed_gate_answer_is_rejected_paged_and_the_gate_stays_open(
    p: Pipeline, answer: Any, field: str
) -> None:
    """DESIGN: "Bad input gets a clear validation error naming the field"; runbook 001's
    freeze is lifted only by a human decision: a malformed one changes nothing."""
    [arn] = p.put_event(load_event(ALARM))
    p.wait([arn], until_parked=True)
    incident = p.parked()[arn]
    first = _gate_token(p, incident)
    p.client("stepfunctions").send_task_success(taskToken=first, output=json.dumps(answer))
    # Answered around selfheal: the new question (a new token) is the signal.
    assert p.clock.wait_until(lambda: _gate_token(p, incident) != first, 60), "asked again"
    assert p.wait([arn], until_parked=True) == [arn]

    run = p.execution_summary(arn)
    assert run["status"] == "RUNNING" and "Resume" not in run["states"]
    [page] = [n for n in p.notifications() if "ESCALATION" in (n["subject"] or "")][:1]
    assert f"{field}:" in page["message"]["reason"]
    assert "the gate is open again" in page["message"]["reason"]
    assert {n["level"] for n in p.notifications() if "ESCALATION" in n["subject"]} == {"l1", "l2"}
    rejected = next(r for r in p.audit_records() if r["action"] == "gate_answer_rejected")
    assert field in rejected["why"]
    assert state(p)["rules"]["ons-s3-processing-rule"] == "DISABLED"

    p.decide(arn, "keep_frozen", "bruno", "bad data confirmed")  # the gate still answers
    p.wait([arn])
    assert p.execution_summary(arn)["error"] == "selfheal.KeptFrozen"


@pytest.mark.procedure("D3", "auto-answer never resumes over an integrity failure")
def test_an_auto_answer_never_resumes_over_an_integrity_failure(p: Pipeline) -> None:
    """Runbook 001 "Verificar integridade dos dados": a resume that does not name what the
    check flagged (an answer given without reading it) is refused; the gate asks again."""
    [run] = p.run_event(load_event(ALARM), gate_decision="resume", operator="auto")

    assert run["status"] == "RUNNING" and "Resume" not in run["states"]
    assert run["awaiting"].startswith("human decision for freeze_ingestion-")
    assert state(p)["rules"]["ons-s3-processing-rule"] == "DISABLED"
    page = next(n for n in p.notifications() if "ESCALATION" in (n["subject"] or ""))
    assert "acknowledge: the integrity check flagged ons-geracao" in page["message"]["reason"]
    assert not [r for r in p.audit_records() if r["action"] == "resume_ingestion"]


def test_a_clean_integrity_check_needs_no_acknowledgement(
    make_pipeline: Any, ingestion_world_spec: WorldSpec
) -> None:
    ingestion_world_spec.ingestion[0].todayFactor = {}
    p = make_pipeline(world_spec=ingestion_world_spec)
    [run] = p.run_event(load_event(ALARM), gate_decision="resume")
    assert run["status"] == "SUCCEEDED"
    assert manifest(p)["integrity"]["suspicious"] == []


@pytest.mark.procedure("D3", "stop processing: rules, executions, mappings of the scope only")
def test_validation_failures_put_by_the_platform_raise_the_alarm_that_freezes(
    p: Pipeline,
) -> None:
    """From the raw signal: the data platform's own metric (records failing validation per
    batch, `DataPlatform/Quality ValidationFailures`) summed over 5 minutes reaches 10,
    `ons-platform-validation` goes to ALARM by evaluation and the freeze runs to its gate.
    No hand-written alarm event."""
    cw = p.client("cloudwatch")
    start = p.clock.now()
    for seconds, failed in ((30, 4), (90, 5)):
        cw.put_metric_data(
            Namespace="DataPlatform/Quality",
            MetricData=[
                {
                    "MetricName": "ValidationFailures",
                    "Dimensions": [{"Name": "IngestionScope", "Value": "ons-platform"}],
                    "Value": failed,
                    "Timestamp": start + timedelta(seconds=seconds),
                }
            ],
        )
    p.clock.advance(300)
    assert p.started == [], "9 failing records in 5 minutes: under the threshold"

    cw.put_metric_data(
        Namespace="DataPlatform/Quality",
        MetricData=[
            {
                "MetricName": "ValidationFailures",
                "Dimensions": [{"Name": "IngestionScope", "Value": "ons-platform"}],
                "Value": 37,
                "Timestamp": p.clock.now() + timedelta(seconds=10),
            }
        ],
    )
    p.clock.advance(300)
    [arn] = p.started
    assert p.wait([arn], until_parked=True) == [arn]
    assert state(p)["running"] == {"ons-processing": 0, "ons-reporting": 2}
    [event] = [j.data["event"] for j in p.journal if j.kind == "event"]
    assert event["detail"]["alarmName"] == "ons-platform-validation"
    assert json.loads(event["detail"]["state"]["reasonData"])["recentDatapoints"] == [37.0]


@pytest.mark.procedure(
    "D7", "an action of an execution already past its guard step is held by the window"
)
def test_a_resume_approved_during_a_maintenance_window_is_held_and_paged(p: Pipeline) -> None:
    """The execution passed its guard step before the window opened; the resume acts at the
    gate's answer, inside the window: `Run.act` reads the platform calendar again and holds
    it (issue 24 item 5, one calendar)."""
    from selfheal_shared.core import guards
    from selfheal_shared.platform import maintenance_window as mw

    [arn] = p.put_event(load_event(ALARM))
    p.wait([arn], until_parked=True)
    now = p.clock.now()
    guards.plan_maintenance(
        mw.SCOPE, starts=now, ends=now + timedelta(hours=2), reason="janela", window_id="w1"
    )
    p.decide(arn, "resume", "ana", reason="values back to normal", acknowledge=FLAGGED)
    p.wait([arn])
    run = p.execution_summary(arn)

    assert state(p)["rules"]["ons-s3-processing-rule"] == "DISABLED", "still frozen"
    assert state(p)["mappings"]["ons-influxdb-loader"] == "Disabled"
    held = [r for r in p.audit_records() if r["action"].startswith("resume_")]
    assert held and all(r.get("outcome") == "SKIPPED_BY_GUARD" for r in held)
    assert "maintenance window on system:ons-data-platform" in held[0]["why"]
    pages = [n for n in p.notifications() if "ESCALATION" in (n["subject"] or "")]
    assert pages and "maintenance window" in json.dumps(pages[-1]["message"])
    assert run["status"] == "FAILED", "the resume did not happen: never reported resumed"
