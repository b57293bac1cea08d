"""Battery alarms raised by CloudWatch (runbook 000 §5/§6): a metric alarm on `LIFO4/Edge`
whose dimensions name the edge (`EdgeId`) and the alarm type (`AlarmType`) runs the same
workflow as the edge's own alarm on `lifo4/{edgeId}/alarms`; a malformed one is refused
naming the field, kept in the failed execution, and nothing acts."""

from __future__ import annotations

from typing import Any

import pytest

from tests.edge.conftest import EdgeWorld

E1 = "edge-cps-001"


def cloudwatch_alarm(
    w: EdgeWorld, dimensions: dict[str, str], value: str = "ALARM", name: str = ""
) -> str:
    """A CloudWatch metric alarm of the convention moves to `value`; the runtime emits the
    `CloudWatch Alarm State Change` event CloudWatch would."""
    name = name or "-".join(dimensions.values()) or "lifo4-edge-alarm"
    cw = w.pipeline.client("cloudwatch")
    if not cw.describe_alarms(AlarmNames=[name])["MetricAlarms"]:
        cw.put_metric_alarm(
            AlarmName=name,
            Namespace="LIFO4/Edge",
            MetricName="BatteryAlarm",
            Dimensions=[{"Name": k, "Value": v} for k, v in dimensions.items()],
            Statistic="Maximum",
            Period=60,
            EvaluationPeriods=1,
            Threshold=1,
            ComparisonOperator="GreaterThanOrEqualToThreshold",
        )
    w.pipeline.set_alarm_state(name, value, f"Threshold Crossed ({value})")
    return name


def intake_runs(w: EdgeWorld, finished: int) -> list[dict[str, Any]]:
    return w.ladders(finished=finished, workflow="edge_alarm_intake")


@pytest.mark.procedure("E6", "delta above 200 mV: equalize and verify")
def test_a_cloudwatch_imbalance_alarm_runs_the_cell_imbalance_workflow(
    edge_world: EdgeWorld,
) -> None:
    """Runbook 000 §5b: "Se delta > 200mV entre células: → Executar equalização" - the
    same workflow whether the alarm came from the edge or from CloudWatch."""
    w = edge_world
    [sim] = w.start_edges([E1])
    sim.cells_mv = [3300, 3320, 3550, 3310]
    sim.publish_telemetry()
    w.settle()
    with w.pipeline.clock.held():  # a live edge reports through the verification (fresh cells)
        w.reporting(sim, seconds=12 * 60)
    cloudwatch_alarm(w, {"EdgeId": E1, "AlarmType": "CELL_VOLTAGE_IMBALANCE"})
    [run] = w.ladders(finished=1, workflow="cell_imbalance")

    assert run["status"] == "SUCCEEDED", run
    assert [c["command"] for c in sim.commands] == ["equalize"]
    [intake] = intake_runs(w, 1)
    assert intake["status"] == "SUCCEEDED" and intake["states"][-1] == "HandedOn"
    [handed] = [r for r in w.pipeline.audit_records() if r["action"] == "alarm_handed_on"]
    assert "CELL_VOLTAGE_IMBALANCE active on edge-cps-001" in handed["result"]


@pytest.mark.procedure("E8", "disconnected controller: the E1 ladder walks it")
def test_a_cloudwatch_communication_loss_alarm_of_a_disconnected_controller_is_one_e1_ladder(
    edge_world: EdgeWorld,
) -> None:
    """Runbook 000 §5: "COMMUNICATION_LOSS → ver item 1 (edge offline)": the controller is
    disconnected (its last will), the alarm joins that outage: one ladder walks E1 (probe,
    restart), no link-loss incident."""
    w = edge_world
    [sim] = w.start_edges([E1])
    w.outage([sim])
    cloudwatch_alarm(w, {"EdgeId": E1, "AlarmType": "COMMUNICATION_LOSS"})
    [run] = w.ladders(finished=1)

    assert run["status"] == "SUCCEEDED" and run["states"][-1] == "Closed", run["states"]
    assert [c["command"] for c in sim.commands] == ["probe", "restart"]
    assert w.ladders(finished=0, workflow="edge_link_lost") == []


@pytest.mark.procedure("E7", "no cause identified: no reset can be approved, escalated")
def test_an_estop_raised_and_cleared_by_cloudwatch_updates_the_edge_alarm_set(
    edge_world: EdgeWorld,
) -> None:
    """Runbook 000 §5c: an active E-Stop blocks every command; CloudWatch's OK clears it."""
    from selfheal_shared.battery import battery

    w = edge_world
    w.start_edges([E1])
    with w.pipeline.clock.held():  # the E-Stop gate waits 24 h; the test does not
        cloudwatch_alarm(w, {"EdgeId": E1, "AlarmType": "EMERGENCY_STOP"})
        w.settle()
        assert "EMERGENCY_STOP" in str(battery.blocker(E1))
        # A metric alarm says a threshold was crossed, not why the E-Stop happened: no cause,
        # so no reset can be approved (runbook 000 §5c "NUNCA fazer reset sem identificar causa").
        [none] = [
            r
            for r in w.pipeline.audit_records()
            if r["incidentId"].startswith("emergency_stop-")
            and r["action"] == "cause_not_identified"
        ]
        assert "not the E-Stop's cause" in none["result"] and w.pipeline.parked() == {}
        cloudwatch_alarm(w, {"EdgeId": E1, "AlarmType": "EMERGENCY_STOP"}, value="OK")
        w.settle()
        assert battery.blocker(E1) is None


@pytest.mark.parametrize(
    ("dimensions", "field"),
    [
        ({"EdgeId": E1}, "dimensions.AlarmType: '' is not one of"),
        ({"EdgeId": E1, "AlarmType": "FIRE"}, "dimensions.AlarmType: 'FIRE' is not one of"),
        ({"AlarmType": "OVER_TEMPERATURE"}, "dimensions.EdgeId: '' is not an edge id"),
        (
            {"EdgeId": "edge-nowhere-9", "AlarmType": "OVER_TEMPERATURE"},
            "dimensions.EdgeId: 'edge-nowhere-9' is not in the edge registry",
        ),
    ],
    ids=["no-type", "unknown-type", "no-edge", "unknown-edge"],
)
def test_a_malformed_cloudwatch_alarm_is_refused_naming_the_field(
    edge_world: EdgeWorld, dimensions: dict[str, str], field: str
) -> None:
    """Bad input gets a clear error naming the field, is kept, and nothing acts."""
    w = edge_world
    w.start_edges([E1])
    cloudwatch_alarm(w, dimensions)
    [run] = intake_runs(w, 1)

    assert run["status"] == "FAILED" and "EscalateFailure" in run["states"]
    why = next(a["why"] for a in run["actions"] if a["outcome"] == "FAILED")
    assert "InputInvalid" in why and field in why, why
    routed = [
        j
        for j in w.pipeline.journal
        if j.kind == "event" and j.data["event"]["source"] != "aws.cloudwatch"
    ]
    assert not [j for j in routed if j.data["event"]["detail-type"] == "Edge Alarm Changed"]


@pytest.mark.procedure("E6", "restart lock or E-Stop active: never equalize")
def test_an_online_status_does_not_clear_an_alarm_raised_on_the_alarms_topic(
    edge_world: EdgeWorld,
) -> None:
    """Runbook 000 §5c "NUNCA fazer reset sem identificar causa": an E-Stop raised on
    `lifo4/{edgeId}/alarms` stays active when a later status lists no alarms (the alarms
    topic is the source of truth), so an imbalance on that system is never equalized; only
    a `cleared` on the alarms topic ends it."""
    from selfheal_shared.battery import battery

    w = edge_world
    [sim] = w.start_edges([E1])
    sim.cells_mv = [3300, 3320, 3550, 3310]
    with w.pipeline.clock.held():  # the E-Stop gate waits 24 h; the test does not
        sim.raise_alarm("EMERGENCY_STOP", reason="button pressed")
        sim.publish_status("online")
        sim.publish_telemetry()
        w.settle()
        assert "EMERGENCY_STOP" in str(battery.blocker(E1))
        sim.raise_alarm("CELL_VOLTAGE_IMBALANCE", reason="BMS cell delta")
        [run] = w.ladders(finished=1, workflow="cell_imbalance")
        assert run["states"][-1] == "NotEqualized" and sim.commands == []
        sim.raise_alarm("EMERGENCY_STOP", "cleared", reason="reset at the site")
        w.settle()
        assert battery.blocker(E1) is None


@pytest.mark.procedure("E6", "delta above 200 mV: equalize and verify")
def test_a_cell_spread_put_by_the_ems_raises_the_cloudwatch_alarm_by_evaluation(
    make_edge_world: Any, edge_world_spec: Any
) -> None:
    """From the raw signal: the EMS's metric (the edge's widest cell-voltage spread, `LIFO4/
    Edge CellVoltageDeltaMax`) over 200 mV in a minute (runbook 000 §5b) turns the
    `edge-cps-001-CELL_VOLTAGE_IMBALANCE` alarm, created from `edge-cell-imbalance` for this
    edge, to ALARM by evaluation; the intake hands it to cell_imbalance, which equalizes."""
    w = make_edge_world(edge_world_spec, alarm_instances={"edge-cell-imbalance": [{"EdgeId": E1}]})
    [sim] = w.start_edges([E1])
    sim.cells_mv = [3300, 3320, 3550, 3310]
    sim.publish_telemetry()
    w.settle()
    p = w.pipeline
    with p.clock.held():
        w.reporting(sim, seconds=12 * 60)  # a live edge reports on (fresh cells)
        p.client("cloudwatch").put_metric_data(
            Namespace="LIFO4/Edge",
            MetricData=[
                {
                    "MetricName": "CellVoltageDeltaMax",
                    "Dimensions": [
                        {"Name": "EdgeId", "Value": E1},
                        {"Name": "AlarmType", "Value": "CELL_VOLTAGE_IMBALANCE"},
                    ],
                    "Value": 250,
                    "Timestamp": p.clock.now(),
                }
            ],
        )
        p.clock.advance(60)
    [run] = w.ladders(finished=1, workflow="cell_imbalance")

    assert run["status"] == "SUCCEEDED", run
    assert [c["command"] for c in sim.commands] == ["equalize"]
    [intake] = intake_runs(w, 1)
    assert intake["status"] == "SUCCEEDED" and intake["states"][-1] == "HandedOn"
    event, *later = [
        j.data["event"]
        for j in p.journal
        if j.kind == "event" and j.data["event"].get("source") == "aws.cloudwatch"
    ]
    assert event["detail"]["alarmName"] == "edge-cps-001-CELL_VOLTAGE_IMBALANCE"
    # the EMS put one minute only: the next minutes have no data (missing: INSUFFICIENT_DATA,
    # which the intake's rule does not take; the edge's alarm set keeps it active)
    assert [e["detail"]["state"]["value"] for e in later] in ([], ["INSUFFICIENT_DATA"])
    assert event["detail"]["state"]["reason"].startswith(
        "Threshold Crossed: 1 out of the last 1 datapoints [250.0"
    )


def test_a_late_ok_of_an_alarm_in_alarm_again_clears_nothing(edge_world: EdgeWorld) -> None:
    """Issue 22 #14: events are ordered by the alarm's own timestamps, not by arrival. The
    OK of t0 delivered after the alarm went to ALARM at t0 + 60 s is older than the state
    CloudWatch has: it is recorded as a late clear, nothing is handed on, and the alarm is
    not cleared."""
    from local.runtime import alarm_event

    w = edge_world
    dims = {"EdgeId": E1, "AlarmType": "OVER_TEMPERATURE"}
    name = "-".join(dims.values())
    cw = w.pipeline.client("cloudwatch")
    cloudwatch_alarm(w, dims, "OK")  # OK at t0: its event cleared nothing (nothing raised)
    alarm = cw.describe_alarms(AlarmNames=[name])["MetricAlarms"][0]
    late_ok = alarm_event(alarm, "OK", "ALARM", "Threshold Crossed (OK)", w.pipeline.clock.now())
    w.pipeline.clock.advance(60)
    # The alarm goes to ALARM at t0 + 60 s; its own event is still on its way.
    cw.set_alarm_state(AlarmName=name, StateValue="ALARM", StateReason="Threshold Crossed")
    before = {r["executionArn"] for r in intake_runs(w, 1)}
    w.pipeline.put_event(late_ok)
    [late] = [r for r in intake_runs(w, len(before) + 1) if r["executionArn"] not in before]
    assert late["status"] == "SUCCEEDED" and late["states"] == ["Claim", "IsDuplicate", "Duplicate"]
    records = [r for r in w.pipeline.audit_records() if r["action"] == "late_alarm_event"]
    assert late["executionArn"] in {r["execution"] for r in records}, records
    for record in records:  # each workflow the OK was routed to
        assert record["outcome"] == "NO_ACTION_NEEDED", record
        assert "the late clear is ignored" in record["why"], record
    handed = [r for r in w.pipeline.audit_records(late["executionArn"])
              if r["action"] == "alarm_handed_on"]  # fmt: skip
    assert handed == [], "the late OK is not handed on as a clear"
