"""Emergency stop (runbook 000 §5c, catalog E7) end to end over the real broker: never
reset automatically; the cause is gathered and paged; the reset waits at a human gate for
`{"confirmedSafe": true, "operator": ...}`, is verified, and names who approved it."""

from __future__ import annotations

import json
from typing import Any

import pytest

from local.worlds.edge import EdgeSim
from tests.edge.conftest import EdgeWorld

E1 = "edge-cps-001"
CAUSE = "E-Stop button pressed at the site: smoke detector"


def estop(w: EdgeWorld, cause: str = CAUSE) -> tuple[EdgeSim, str]:
    """E1 raises EMERGENCY_STOP; returns once the workflow is parked at the gate. Callers
    hold the clock meanwhile: the operator answers within the gate's 24 h."""
    [sim] = w.start_edges([E1])
    sim.raise_alarm("EMERGENCY_STOP", reason=cause)
    w.settle()
    [incident] = {
        r["incidentId"]
        for r in w.pipeline.audit_records()
        if str(r["incidentId"]).startswith("emergency_stop-")
    }
    return sim, incident


def answer(w: EdgeWorld, incident: str, body: Any, *, refused: bool = True) -> None:
    """What `aws stepfunctions send-task-success` does with the gate's token; a refused
    answer returns once the gate has been opened again (a new token parked)."""
    from selfheal_shared.edge import edge_registry

    def token() -> str:
        return str((edge_registry.get(f"gate#{incident}") or {}).get("token", ""))

    old = token()
    w.pipeline.client("stepfunctions").send_task_success(taskToken=old, output=json.dumps(body))
    if refused and not w.pipeline.clock.wait_until(lambda: token() != old, 120):
        raise TimeoutError("the gate was not opened again")
    w.settle()


def runs(w: EdgeWorld) -> list[dict[str, Any]]:
    sfn = w.pipeline.client("stepfunctions")
    arn = w.pipeline.state_machines["emergency_stop"]
    return list(sfn.list_executions(stateMachineArn=arn)["executions"])


def details(record: dict[str, Any]) -> dict[str, Any]:
    return dict(json.loads(record["details"]))


def steps(w: EdgeWorld, incident: str) -> list[dict[str, Any]]:
    return [r for r in w.pipeline.audit_records() if r["incidentId"] == incident]


@pytest.mark.procedure("E7", "never auto-reset: gather the cause")
def test_an_estop_is_never_reset_without_approval_and_a_false_confirmation_is_refused(
    edge_world: EdgeWorld,
) -> None:
    """Runbook 000 §5c: "Ver motivo do E-Stop" and "NUNCA fazer reset sem identificar
    causa"."""
    w = edge_world
    with w.pipeline.clock.held():
        sim, incident = estop(w)

        [run] = runs(w)
        assert run["status"] == "RUNNING" and sim.commands == []
        # Listed where operators look (`selfheal gates`), by execution and incident.
        assert w.pipeline.parked() == {run["executionArn"]: incident}
        [gathered] = [r for r in steps(w, incident) if r["action"] == "cause_gathered"]
        assert CAUSE in gathered["result"]
        [page] = [n for n in w.pipeline.notifications() if n["message"].get("cause")][:1]
        assert page["level"] == "l1" and page["message"]["cause"] == CAUSE

        answer(w, incident, {"confirmedSafe": False, "operator": "ana"})
        answer(w, incident, {"confirmedSafe": True})
        assert sim.commands == [] and w.commands_sent() == []
        assert runs(w)[0]["status"] == "RUNNING", "the gate is open again"
    refused = [r for r in steps(w, incident) if r["action"] == "reset_approval_refused"]
    assert "confirmedSafe" in refused[0]["why"] and "operator" in refused[1]["why"]
    bad = [
        n["message"]["reason"]
        for n in w.pipeline.notifications()
        if "gate is open again" in str(n["message"].get("reason"))
    ]
    assert len(bad) == 2 and "confirmedSafe" in bad[0] and "operator" in bad[1]


@pytest.mark.procedure("E7", "reset only after a human confirms")
def test_the_reset_goes_after_a_valid_confirmation_is_verified_and_audits_the_approver(
    edge_world: EdgeWorld,
) -> None:
    """Runbook 000 §5c: "Após identificar e resolver: ... reset-emergency-stop ...
    {"confirmedSafe": true, "operator": "seu-nome"}"."""
    w = edge_world
    with w.pipeline.clock.held():
        sim, incident = estop(w)
        answer(w, incident, {"confirmedSafe": "yes", "operator": "ana"})
        assert sim.commands == []
        approval = {"confirmedSafe": True, "operator": "ana", "cause": CAUSE}
        answer(w, incident, approval, refused=False)
    [run] = w.ladders(finished=1, workflow="emergency_stop")

    assert run["status"] == "SUCCEEDED" and run["states"][-1] == "ResetDone", run["states"]
    assert [c["command"] for c in sim.commands] == ["reset-emergency-stop"]
    assert sim.commands[0]["operator"] == "ana" and sim.commands[0]["confirmedSafe"] is True
    done = {r["action"]: r for r in steps(w, incident)}
    assert "ana" in done["reset_approved"]["result"]
    assert "ana" in done["edge_reset_emergency_stop"]["why"]
    assert done["reset_verified"]["outcome"] == "FIXED"


@pytest.mark.procedure("E7", "no cause identified: no reset can be approved, escalated")
def test_an_estop_whose_event_gives_no_cause_opens_no_gate_and_is_escalated(
    edge_world: EdgeWorld,
) -> None:
    """Runbook 000 §5c "Ver motivo do E-Stop ... NUNCA fazer reset sem identificar causa":
    the E-Stop's own event gives no reason, so there is no cause to confirm: no gate is
    opened (no answer could reset it), the P1 page says no reset can be approved, and
    nothing is sent to the edge."""
    w = edge_world
    [sim] = w.start_edges([E1])
    sim.raise_alarm("EMERGENCY_STOP", reason="")
    [run] = w.ladders(finished=1, workflow="emergency_stop")

    assert run["states"][-2:] == ["EscalateNoCause", "NoCause"], run["states"]
    assert "AwaitApproval" not in run["states"] and w.pipeline.parked() == {}
    assert sim.commands == [] and w.commands_sent() == []
    [none] = [r for r in w.pipeline.audit_records() if r["action"] == "cause_not_identified"]
    assert "the emergency-stop event gives no reason" in none["result"]
    [page] = [
        n
        for n in w.pipeline.notifications()
        if "no reset can be approved" in str(n["message"].get("reason"))
    ]
    assert page["level"] == "l1" and page["message"]["severity"] == "P1"
    assert page["message"]["respondWithin"] == "15 minutes"


@pytest.mark.procedure("E7", "the approval confirms the cause shown; cause and reason recorded")
def test_an_approval_must_confirm_the_cause_shown_and_the_cause_is_recorded(
    edge_world: EdgeWorld,
) -> None:
    """Runbook 000 §5c "NUNCA fazer reset sem identificar causa. Após identificar e
    resolver: reset": the gate shows the cause read from the E-Stop's event; an approval
    without it, with another cause, or malformed is refused naming the field, kept in the
    record and the gate stays open; the approval with the cause shown resets, and the cause
    and what was resolved are in the incident's record."""
    w = edge_world
    with w.pipeline.clock.held():
        sim, incident = estop(w)
        answer(w, incident, {"confirmedSafe": True, "operator": "ana"})
        answer(w, incident, {"confirmedSafe": True, "operator": "ana", "cause": "fuse"})
        answer(w, incident, "reset it")
        assert sim.commands == [] and runs(w)[0]["status"] == "RUNNING"
        answer(
            w,
            incident,
            {"confirmedSafe": True, "operator": "ana", "cause": CAUSE, "reason": "sensor swapped"},
            refused=False,
        )
    [run] = w.ladders(finished=1, workflow="emergency_stop")

    [gate] = [n for n in w.pipeline.notifications() if n["message"].get("decide")][:1]
    assert gate["message"]["cause"] == CAUSE and CAUSE in gate["message"]["decide"]
    refused = [r for r in steps(w, incident) if r["action"] == "reset_approval_refused"]
    assert ["cause" in r["why"] for r in refused] == [True, True, False]
    assert "not the cause shown at the gate" in refused[1]["why"]
    assert details(refused[1])["answer"].startswith("{'confirmedSafe': True")
    assert details(refused[2])["answer"] == "'reset it'"
    assert run["status"] == "SUCCEEDED" and run["states"][-1] == "ResetDone", run["states"]
    assert [c["command"] for c in sim.commands] == ["reset-emergency-stop"]
    done = {r["action"]: r for r in steps(w, incident)}
    approved = done["reset_approved"]
    assert details(approved)["cause"] == CAUSE
    assert details(approved)["reason"] == "sensor swapped"
    assert CAUSE in done["edge_reset_emergency_stop"]["why"]


@pytest.mark.procedure("E7", "reset only after a human confirms")
def test_selfheal_reject_then_approve_answer_the_estop_gate_in_its_own_shape(
    edge_world: EdgeWorld,
) -> None:
    """`selfheal reject` / `selfheal approve` on an E-Stop gate send the runbook's body
    (`confirmedSafe` false / true with the operator), not the freeze's decision: a reject
    leaves the E-Stop standing and the gate open; an approve resets it, naming who."""
    from selfheal_shared.core import approvals
    from selfheal_shared.edge import edge_registry

    w = edge_world
    with w.pipeline.clock.held():
        sim, incident = estop(w)
        first = str((edge_registry.get(f"gate#{incident}") or {}).get("token"))
        approvals.decide(incident, "keep_frozen", "ana", "cause not found yet")
        assert w.pipeline.clock.wait_until(
            lambda: (edge_registry.get(f"gate#{incident}") or {}).get("token") != first, 120
        ), "the gate was not opened again"
        w.settle()
        assert sim.commands == []
        approvals.decide(incident, "resume", "bruno", "breaker checked")
    [run] = w.ladders(finished=1, workflow="emergency_stop")

    assert run["status"] == "SUCCEEDED" and run["states"][-1] == "ResetDone", run["states"]
    assert [(c["command"], c["operator"]) for c in sim.commands] == [
        ("reset-emergency-stop", "bruno")
    ]
    [approved] = [r for r in steps(w, incident) if r["action"] == "reset_approved"]
    assert details(approved)["cause"] == CAUSE
    assert details(approved)["reason"] == "breaker checked"
