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


def estop(w: EdgeWorld) -> tuple[EdgeSim, str]:
    """E1 raises EMERGENCY_STOP; returns once the workflow is parked at the gate. Callers
    hold the clock meanwhile: the operator answers within the gate's 24 h."""
    [sim] = w.start_edges([E1])
    sim.raise_alarm("EMERGENCY_STOP", reason=CAUSE)
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
        answer(w, incident, {"confirmedSafe": True, "operator": "ana"}, refused=False)
    [run] = w.ladders(finished=1, workflow="emergency_stop")

    assert run["status"] == "SUCCEEDED" and run["states"][-1] == "ResetDone", run["states"]
    assert [c["command"] for c in sim.commands] == ["reset-emergency-stop"]
    assert sim.commands[0]["operator"] == "ana" and sim.commands[0]["confirmedSafe"] is True
    done = {r["action"]: r for r in steps(w, incident)}
    assert "ana" in done["reset_approved"]["result"]
    assert "ana" in done["edge_reset_emergency_stop"]["why"]
    assert done["reset_verified"]["outcome"] == "FIXED"


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
