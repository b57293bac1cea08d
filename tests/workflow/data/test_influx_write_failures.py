"""influx_write_failures end to end (runbook 001 "Falhas de Escrita no InfluxDB", D4): the
write latency of a Timestream for InfluxDB database published each virtual minute by the
data world from the instance's class, the alarm created from `events/alarms/` going to
ALARM by evaluation, the diagnosis (latency, status and class, connectivity to a real
InfluxDB this module starts), the scaling gate answered as an operator would, the update in
the extended moto (UpdateDbInstance), and the writer's retries against the real store."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError
from selfheal_cdk import spec as spec_mod
from selfheal_shared.core import guards
from selfheal_shared.data.influx_writer import TimeSeriesWriter, WriteFailed

from local import influx
from local.moto_extensions import TSDB_UPDATE_MINUTES
from local.runtime import Pipeline
from local.worlds import WorldSpec
from local.worlds.data.influx_instance import InfluxInstanceSpec
from tests.helpers import spec_for

WORKFLOWS = ("influx_write_failures",)
INSTANCE = "ons-influxdb-prod"
LATENCY = {"db.influx.medium": 1500.0, "db.influx.large": 300.0}


@pytest.fixture(scope="module", autouse=True)
def store() -> Iterator[influx.InfluxServer]:
    server = influx.InfluxServer().start()
    influx.use(server)
    yield server
    influx.use(None)
    server.close()


@pytest.fixture(scope="module")
def influx_spec() -> spec_mod.Spec:
    return spec_for(WORKFLOWS)


def _world(base: WorldSpec, latency: dict[str, float], cls: str) -> WorldSpec:
    spec = base.model_copy(deep=True)
    spec.influxInstances = [
        InfluxInstanceSpec(scope="ons-platform", dbInstanceType=cls, writeLatencyMs=latency)
    ]
    return spec


@pytest.fixture
def make(make_pipeline: Any, ingestion_world_spec: WorldSpec, influx_spec: spec_mod.Spec) -> Any:
    def build(latency: dict[str, float] = LATENCY, cls: str = "db.influx.medium") -> Pipeline:
        p: Pipeline = make_pipeline(
            world_spec=_world(ingestion_world_spec, latency, cls), spec=influx_spec
        )
        return p

    return build


def instance(p: Pipeline) -> dict[str, Any]:
    ident = p.world.influx_instances.ids[INSTANCE]
    got: dict[str, Any] = p.client("timestream-influxdb").get_db_instance(identifier=ident)
    return got


def alarm_state(p: Pipeline, name: str = "ons-influxdb-write-latency") -> str:
    return str(p.client("cloudwatch").describe_alarms(AlarmNames=[name])["MetricAlarms"][0][
        "StateValue"
    ])  # fmt: skip


def alarm_fires(p: Pipeline) -> str:
    """Virtual time passes with the world's latency published until the alarm starts the
    workflow (two 5-minute periods over 1000 ms); its execution."""
    for _ in range(4):
        p.clock.advance(300)
        if p.started:
            break
    [arn] = p.started
    return arn


def gate_pages(p: Pipeline) -> list[dict[str, Any]]:
    return [n for n in p.notifications() if "scale" in (n["subject"] or "")]


@pytest.mark.procedure("D4", "alarm on write latency from metric data")
@pytest.mark.procedure("D4", "scale the instance class behind a human gate")
@pytest.mark.procedure("D4", "approved: one class up, AVAILABLE again, alarm OK: FIXED")
def test_latency_alarm_gate_approve_scales_one_class_and_verifies_the_alarm(
    make: Any,
) -> None:
    p = make()
    assert alarm_state(p) == "OK"
    arn = alarm_fires(p)
    [event] = [j.data["event"] for j in p.journal if j.kind == "event"]
    assert event["detail"]["alarmName"] == "ons-influxdb-write-latency"
    assert json.loads(event["detail"]["state"]["reasonData"])["recentDatapoints"] == [
        1500.0,
        1500.0,
    ]
    assert p.wait([arn], until_parked=True) == [arn]
    # The gate shows the runbook's figures: latency, status, class, the step proposed.
    [l1, l2] = gate_pages(p)
    assert {l1["level"], l2["level"]} == {"l1", "l2"}
    shown = l1["message"]
    assert shown["proposal"].endswith("db.influx.medium -> db.influx.large")
    assert shown["latency"]["worstAverage"] == 1500.0 and shown["latency"]["periods"]
    assert shown["instance"]["status"] == "AVAILABLE"
    assert shown["instance"]["dbInstanceType"] == "db.influx.medium"
    assert "answered /ping 204" in shown["connectivity"]
    assert instance(p)["dbInstanceType"] == "db.influx.medium", "nothing before the answer"

    p.decide(arn, "resume", "ana", reason="latency 1.5 s for 10 min, scale as proposed")
    p.wait([arn], timeout=120)
    run = p.execution_summary(arn)
    assert run["status"] == "SUCCEEDED", run
    assert run["states"][-2:] == ["NotifyFixed", "Fixed"]
    got = instance(p)
    assert (got["dbInstanceType"], got["status"]) == ("db.influx.large", "AVAILABLE")
    assert alarm_state(p) == "OK"
    assert p.extensions.tsdb_updates == [
        {"identifier": got["id"], "dbInstanceType": "db.influx.large"}
    ]
    [fixed] = [n for n in p.notifications() if n["subject"].endswith("FIXED")]
    summary = fixed["message"]["summary"]
    assert "db.influx.medium -> db.influx.large" in summary
    # What was verified: the alarm OK with its latest datapoint, not a claim about latency.
    assert "alarm ons-influxdb-write-latency OK (latest InfluxDB_WriteLatency Average " in (summary)
    records = p.audit_records()
    verify = next(r for r in records if r["action"] == "verify_latency")
    scaled = next(r for r in records if r["action"] == "scale_instance" and not r.get("outcome"))
    # FIXED only after the update was over and the alarm back: never before.
    assert verify["at"] > scaled["at"]
    assert "ana approved" in scaled["why"]
    # The update was taken as started while AWS still showed the old class.
    assert scaled["result"].endswith("(update started)")
    assert "UPDATING_INSTANCE_TYPE db.influx.medium" in scaled["details"]


@pytest.mark.procedure("D4", "approval after the alarm went OK: nothing scaled, NO_ACTION_NEEDED")
def test_an_approval_after_the_alarm_is_ok_again_scales_nothing(make: Any) -> None:
    """The gate waits up to 24 h: when the answer comes the figures may be stale. The scale
    step reads the alarm again; OK means nothing is scaled, and that is what is recorded."""
    p = make()
    arn = alarm_fires(p)
    p.wait([arn], until_parked=True)
    # The load passed while nobody answered: the latency is back at 200 ms, alarm OK.
    p.world.influx_instances.specs[INSTANCE].writeLatencyMs["db.influx.medium"] = 200.0
    p.world.influx_instances.latency[INSTANCE] = 200.0
    for _ in range(6):
        p.clock.advance(300)
    assert alarm_state(p) == "OK"
    p.decide(arn, "resume", "ana", reason="scale as proposed")
    p.wait([arn], timeout=120)
    run = p.execution_summary(arn)
    assert run["status"] == "SUCCEEDED", run
    assert run["states"][-3:] == ["Scaled", "NotifyStale", "Recovered"]
    assert p.extensions.tsdb_updates == []
    assert instance(p)["dbInstanceType"] == "db.influx.medium"
    [rec] = [r for r in p.audit_records() if r["action"] == "scale_instance"]
    assert rec["outcome"] == "NO_ACTION_NEEDED"
    assert "not scaled, still db.influx.medium" in rec["result"]


@pytest.mark.procedure(
    "D4", "alarm OK without data after scaling: not FIXED, paged after 45 checks"
)
def test_an_alarm_ok_for_want_of_data_is_not_taken_as_fixed(make: Any) -> None:
    """After the update the new class publishes no latency: the alarm goes OK only because
    no data arrived (notBreaching). That proves nothing: no FIXED; after the 45 checks
    people are paged NOT_FIXED with what was seen."""
    p = make()
    arn = alarm_fires(p)
    p.wait([arn], until_parked=True)
    # From now on the instance publishes no write latency at all.
    p.world.influx_instances.specs[INSTANCE].writeLatencyMs.clear()
    p.world.influx_instances.latency.pop(INSTANCE)
    p.decide(arn, "resume", "ana", reason="scale as proposed")
    p.wait([arn], timeout=120)
    run = p.execution_summary(arn)
    assert run["status"] == "FAILED" and run["error"] == "selfheal.NotFixed", run
    assert "NotifyFixed" not in run["states"]
    assert run["states"].count("Watch") == 45
    assert alarm_state(p) == "OK"
    assert [r for r in p.audit_records() if r["action"] == "verify_latency"] == []
    reason = next(n for n in p.notifications() if "NOT_FIXED" in json.dumps(n["message"]))[
        "message"
    ]["reason"]
    assert "not recovered after 45 checks" in reason
    assert "OK with no datapoint in its last period" in reason


@pytest.mark.procedure("D4", "the gate's step retried after its pages went out: asked once")
def test_a_retried_gate_step_pages_l1_l2_once(make: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """The gate's Lambda pages L1/L2, then parking its token fails once (a throttled
    write): Step Functions retries the step. The retry parks the token and pages nobody
    again; the approval still reaches the run."""
    from selfheal_shared.core import approvals
    from selfheal_shared.core.errors import Transient

    p = make()
    park = approvals.park
    calls: list[str] = []

    def park_fails_once(*args: Any, **kwargs: Any) -> Any:
        calls.append("park")
        if len(calls) == 1:
            raise Transient("throttled writing the token")
        return park(*args, **kwargs)

    monkeypatch.setattr(approvals, "park", park_fails_once)
    arn = alarm_fires(p)
    assert p.wait([arn], until_parked=True) == [arn]
    assert len(calls) == 2, "the step was retried"
    assert sorted(n["level"] for n in gate_pages(p)) == ["l1", "l2"]
    p.decide(arn, "resume", "ana", reason="scale as proposed")
    p.wait([arn], timeout=120)
    run = p.execution_summary(arn)
    assert run["status"] == "SUCCEEDED" and run["states"][-2:] == ["NotifyFixed", "Fixed"]
    assert len(p.extensions.tsdb_updates) == 1


@pytest.mark.procedure("D4", "maintenance window opened after the guard step: nothing scaled")
def test_a_maintenance_window_opened_after_the_guard_step_holds_the_scaling(make: Any) -> None:
    """The data platform's window (`system:ons-data-platform`) starts between the guard
    step after the approval and the update: the scale step's own guard re-check reads that
    scope too, so nothing is scaled and the refusal is recorded."""
    p = make()
    lambdas: Any = p.lambdas
    [(name, (fn_spec, check))] = [
        (n, e) for n, e in lambdas._handlers.items() if e[0].name == "remediation_guards"
    ]
    seen: list[bool] = []

    def window_opens_after(event: dict[str, Any], context: Any) -> Any:
        out = check(event, context)
        seen.append(bool(out["proceed"]))
        if len(seen) == 2:  # GuardsScale passed; the window starts right after it
            now = p.clock.now()
            guards.set_maintenance(
                "system:ons-data-platform",
                starts=now,
                ends=now + timedelta(hours=2),
                reason="InfluxDB minor version upgrade",
            )
        return out

    lambdas._handlers[name] = (fn_spec, window_opens_after)
    arn = alarm_fires(p)
    p.wait([arn], until_parked=True)
    p.decide(arn, "resume", "ana", reason="scale as proposed")
    p.wait([arn], timeout=120)
    assert seen == [True, True]
    run = p.execution_summary(arn)
    assert "Scale" in run["states"] and "NotifyFixed" not in run["states"]
    assert p.extensions.tsdb_updates == []
    assert instance(p)["dbInstanceType"] == "db.influx.medium"
    [held] = [r for r in p.audit_records() if r.get("outcome") == "SKIPPED_BY_GUARD"]
    assert (
        held["action"] == "scale_instance" and "maintenance" in json.loads(held["details"])["guard"]
    )


@pytest.mark.procedure("D4", "not approved: nothing changed, paged")
def test_reject_changes_nothing_and_pages(make: Any) -> None:
    p = make()
    arn = alarm_fires(p)
    p.wait([arn], until_parked=True)
    p.decide(arn, "keep_frozen", "bruno", reason="a backfill is running, it will pass")
    p.wait([arn])
    run = p.execution_summary(arn)
    assert run["status"] == "FAILED" and run["error"] == "selfheal.NotApproved"
    assert "Scale" not in run["states"]
    assert instance(p)["dbInstanceType"] == "db.influx.medium"
    assert p.extensions.tsdb_updates == []
    pages = [n for n in p.notifications() if "ESCALATION" in (n["subject"] or "")]
    assert {n["level"] for n in pages} == {"l1", "l2"}
    assert "was not approved at the gate" in pages[0]["message"]["reason"]


@pytest.mark.procedure("D4", "no answer at the gate: nothing changed, paged")
def test_gate_timeout_changes_nothing(make: Any) -> None:
    p = make()
    arn = alarm_fires(p)
    p.wait([arn], until_parked=True)
    p.clock.advance(25 * 3600)
    p.wait([arn])
    run = p.execution_summary(arn)
    assert run["status"] == "FAILED" and run["error"] == "selfheal.GateTimedOut"
    assert instance(p)["dbInstanceType"] == "db.influx.medium"
    assert p.extensions.tsdb_updates == []


@pytest.mark.procedure("D4", "store unreachable: paged with the finding, no gate")
def test_an_unreachable_store_is_paged_with_the_finding_and_opens_no_gate(
    make: Any, store: influx.InfluxServer
) -> None:
    p = make()
    store.stop()
    try:
        arn = alarm_fires(p)
        p.wait([arn])
    finally:
        store.start()
    run = p.execution_summary(arn)
    assert run["status"] == "FAILED" and run["error"] == "selfheal.NotFixed"
    assert "AwaitDecision" not in run["states"]
    assert gate_pages(p) == []
    assert instance(p)["dbInstanceType"] == "db.influx.medium"
    [page] = [n for n in p.notifications() if n["level"] == "l1"]
    reason = page["message"]["reason"]
    assert "selfheal could not reach the store from the function's network" in reason
    assert "did not answer" in reason
    assert "worst average 1500.0 ms" in reason


@pytest.mark.procedure("D4", "alarm on write errors from metric data")
@pytest.mark.procedure("D4", "write errors with normal latency: paged with the sums, no scaling")
def test_write_errors_with_normal_latency_page_the_finding_without_a_scale_proposal(
    make: Any,
) -> None:
    """The loader's own metric (batches its writer gave up on, `DataPlatform/TimeSeries
    WriteErrors`) reaches 2 in 5 minutes: `ons-influxdb-write-errors` goes to ALARM by
    evaluation. The latency is 200 ms: a larger class would not take the errors away, so
    people are paged with the sums and the latency, and no gate proposes scaling."""
    p = make({"db.influx.medium": 200.0})
    p.client("cloudwatch").put_metric_data(
        Namespace="DataPlatform/TimeSeries",
        MetricData=[
            {
                "MetricName": "WriteErrors",
                "Dimensions": [{"Name": "DatabaseName", "Value": "ons_influxdb_prod"}],
                "Value": 2,
                "Timestamp": p.clock.now() + timedelta(seconds=30),
            }
        ],
    )
    arn = alarm_fires(p)
    p.wait([arn])
    [event] = [j.data["event"] for j in p.journal if j.kind == "event"]
    assert event["detail"]["alarmName"] == "ons-influxdb-write-errors"
    run = p.execution_summary(arn)
    assert run["status"] == "FAILED" and "AwaitDecision" not in run["states"]
    assert gate_pages(p) == [] and p.extensions.tsdb_updates == []
    reason = next(n for n in p.notifications() if n["level"] == "l1")["message"]["reason"]
    assert "no scaling proposed" in reason
    assert "WriteErrors per 5 min: 2" in reason and "last average 200.0 ms" in reason
    assert alarm_state(p) == "OK", "the latency alarm stays OK at 200 ms"


@pytest.mark.procedure("D4", "instance already updating: paged, never scaled twice")
def test_an_instance_already_updating_is_paged_and_not_scaled_again(make: Any) -> None:
    p = make()
    ident = instance(p)["id"]
    p.client("timestream-influxdb").update_db_instance(
        identifier=ident, dbInstanceType="db.influx.large"
    )
    arn = alarm_fires(p)
    p.wait([arn])
    run = p.execution_summary(arn)
    assert run["status"] == "FAILED" and "AwaitDecision" not in run["states"]
    assert len(p.extensions.tsdb_updates) == 1, "only the update made before the alarm"
    reason = next(n for n in p.notifications() if n["level"] == "l1")["message"]["reason"]
    assert f"instance {ident} is UPDATING_INSTANCE_TYPE, not AVAILABLE" in reason


@pytest.mark.procedure("D4", "top of the ladder: paged, no gate")
def test_no_larger_class_pages_without_a_gate(make: Any) -> None:
    p = make({"db.influx.24xlarge": 1500.0}, "db.influx.24xlarge")
    arn = alarm_fires(p)
    p.wait([arn])
    run = p.execution_summary(arn)
    assert run["status"] == "FAILED" and "AwaitDecision" not in run["states"]
    assert (
        "no larger class on the ladder"
        in next(n for n in p.notifications() if n["level"] == "l1")["message"]["reason"]
    )


@pytest.mark.procedure("D4", "kill switch: nothing scaled")
def test_kill_switch_scales_nothing(make: Any) -> None:
    p = make()
    guards.set_switch(guards.KILL_SWITCH, enabled=True, reason="drill", actor="test")
    arn = alarm_fires(p)
    p.wait([arn])
    run = p.execution_summary(arn)
    assert run["status"] == "SUCCEEDED" and run["states"][-2:] == ["EscalateSkipped", "Skipped"]
    assert "AwaitDecision" not in run["states"] and gate_pages(p) == []
    assert p.extensions.tsdb_updates == []
    [page] = [n for n in p.notifications() if n["level"] == "l1"]
    assert page["message"]["refusal"]["guard"] == "kill_switch"


@pytest.mark.procedure("D4", "dry run: nothing scaled, would-do recorded")
def test_dry_run_records_what_it_would_do(make: Any) -> None:
    p = make()
    guards.set_switch(guards.DRY_RUN, enabled=True, reason="rehearsal", actor="t")
    arn = alarm_fires(p)
    p.wait([arn])
    run = p.execution_summary(arn)
    assert run["status"] == "SUCCEEDED" and "Scale" not in run["states"]
    assert p.extensions.tsdb_updates == []
    [skipped] = [r for r in p.audit_records() if r.get("outcome") == "SKIPPED_BY_GUARD"]
    would = json.loads(skipped["details"])["wouldDo"]
    assert (would["currentClass"], would["proposedClass"]) == (
        "db.influx.medium",
        "db.influx.large",
    )


def test_update_db_instance_refuses_as_aws_does(make: Any) -> None:
    """The local UpdateDbInstance: unknown id, a class not in the enum, an instance that is
    not AVAILABLE, storage that shrinks; UPDATING for some virtual minutes, then AVAILABLE."""
    p = make()
    tsdb = p.client("timestream-influxdb")
    ident = instance(p)["id"]

    def code(**kwargs: Any) -> str:
        with pytest.raises(ClientError) as err:
            tsdb.update_db_instance(**kwargs)
        return str(err.value.response["Error"]["Code"])

    assert code(identifier="nosuchinstance1", dbInstanceType="db.influx.large") == (
        "ResourceNotFoundException"
    )
    assert code(identifier=ident, dbInstanceType="db.influx.huge") == "ValidationException"
    assert code(identifier=ident, allocatedStorage=50) == "ValidationException"
    got = tsdb.update_db_instance(identifier=ident, dbInstanceType="db.influx.large")
    # AWS's status for a class change; the old class shows until the update is over.
    assert (got["status"], got["dbInstanceType"]) == ("UPDATING_INSTANCE_TYPE", "db.influx.medium")
    assert code(identifier=ident, dbInstanceType="db.influx.xlarge") == "ConflictException"
    p.clock.advance(TSDB_UPDATE_MINUTES * 60 - 60)
    assert (instance(p)["status"], instance(p)["dbInstanceType"]) == (
        "UPDATING_INSTANCE_TYPE",
        "db.influx.medium",
    )
    p.clock.advance(60)
    assert (instance(p)["status"], instance(p)["dbInstanceType"]) == (
        "AVAILABLE",
        "db.influx.large",
    )


@pytest.mark.procedure("D4", "a batch lost after its retries: WriteErrors metric (EMF)")
def test_a_batch_given_up_on_emits_the_write_errors_metric_the_alarm_reads(
    store: influx.InfluxServer, capsys: pytest.CaptureFixture[str]
) -> None:
    """The `ons-influxdb-write-errors` alarm reads `DataPlatform/TimeSeries WriteErrors`
    per DatabaseName: the writer publishes it (an EMF line) for each batch it gives up on,
    and a store that refuses the lines (400) counts too."""
    repo = Path(__file__).resolve().parents[3]
    alarm = json.loads((repo / "events/alarms/ons-influxdb-write-errors.json").read_text())
    store.stop()
    try:
        writer = TimeSeriesWriter(
            store.url, "ons_influxdb_prod", "selfheal-admin", store.password,
            retries=0, backoff_factor=0,
        )  # fmt: skip
        with pytest.raises(WriteFailed):
            writer.write(["energy value=1i 1700000000000000000"])
    finally:
        store.start()
    store.create_database("emf_partial")
    refused = TimeSeriesWriter(store.url, "emf_partial", "selfheal-admin", store.password)
    with pytest.raises(WriteFailed, match="answered 400"):
        refused.write(["energy value=1i 1700000000000000000", "energy value=oops= 17000000"])
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines() if '"_aws"' in x]
    assert [x["DatabaseName"] for x in lines] == ["ons_influxdb_prod", "emf_partial"]
    [spec] = lines[0]["_aws"]["CloudWatchMetrics"]
    assert spec["Namespace"] == alarm["metric"]["namespace"]
    assert spec["Metrics"][0]["Name"] == alarm["metric"]["name"]
    assert spec["Dimensions"] == [list(alarm["metric"]["dimensions"])]
    assert all(x["WriteErrors"] == 1 for x in lines)


@pytest.mark.procedure("D4", "retry with backoff")
def test_writer_retries_a_store_that_went_away_and_loses_or_doubles_no_point(
    store: influx.InfluxServer,
) -> None:
    """Runbook 001 "escrita em lote com retry": 2500 points in batches of 1000 while the
    store is down for the first attempts; the writer's backoff retries (urllib3's) carry
    them through, every point is there once, and writing the same points again (a retry
    after a lost answer) still leaves each once."""
    database = "writer_retry"
    store.create_database(database)
    lines = [
        f"energy,source=s{n % 5} value={n}i {1_700_000_000_000_000_000 + n}" for n in range(2500)
    ]
    retried: list[int] = []
    sleeps: list[float] = []
    batches: list[int] = []

    def back_up(failures: int) -> None:
        retried.append(failures)
        if failures == 3:  # down for three attempts, then back
            store.start()

    store.stop()
    writer = TimeSeriesWriter(
        store.url, database, "selfheal-admin", store.password,
        backoff_factor=0.01, on_retry=back_up, on_backoff=sleeps.append,
        on_batch=batches.append,
    )  # fmt: skip
    try:
        assert writer.write(lines) == 2500
    finally:
        if not store.running():
            store.start()
    assert retried[:3] == [1, 2, 3]
    # urllib3 2.x: nothing before the first retry, then growing (backoff * 2 ** (n - 1)).
    assert sleeps[:3] == [0, 0.02, 0.04]
    assert batches == [1000, 1000, 500]

    def count() -> int:
        out = store.query('SELECT count("value") FROM "energy"', db=database)
        return int(out["results"][0]["series"][0]["values"][0][1])

    assert count() == 2500
    assert writer.write(lines[:1000]) == 1000
    assert count() == 2500
