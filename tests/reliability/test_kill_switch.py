"""A kill switch set at any step of a workflow stops every action after it (DESIGN.md,
safety rules): the guards are read again right before each action, not only by the
workflow's guard step. An action always writes its intent record first, so "no intent
record after the switch" is "no action after the switch"."""

from __future__ import annotations

from typing import Any

import pytest
from selfheal_shared import guards

from local.runtime import Pipeline
from local.world import WorldSpec
from tests.helpers import FIVE_XX, SAMPLES, load_event

FREEZE_ALARM = SAMPLES / "freeze_ingestion.validation_failures_alarm.json"


def intents(p: Pipeline) -> list[dict[str, Any]]:
    return [r for r in p.audit_records() if r["action"].endswith("_intent")]


def kill_before(p: Pipeline, function: str) -> dict[str, int]:
    """Turn the kill switch on just before `function` first runs; remember how many actions
    had been taken by then."""
    seen: dict[str, int] = {}

    def hook(name: str, _event: Any) -> None:
        if name == function and not seen:
            seen["intents"] = len(intents(p))
            guards.set_switch(guards.KILL_SWITCH, enabled=True, reason="stop!", actor="test")

    p.lambdas.before_invoke.append(hook)
    return seen


@pytest.mark.parametrize(
    "step",
    ["rollback_resolve", "remediation_guards", "rollback_deployment", "disable_flags",
     "check_alarm"],
)  # fmt: skip
def test_rollback_stops_at_the_kill_switch(make_pipeline: Any, step: str) -> None:
    p = make_pipeline()
    seen = kill_before(p, step)
    [run] = p.run_event(load_event(FIVE_XX))

    assert seen, f"{step} never ran"
    assert len(intents(p)) == seen["intents"], "no action after the kill switch"
    if step in ("rollback_resolve", "remediation_guards", "rollback_deployment"):
        alias = p.client("lambda").get_alias(FunctionName="orders-api", Name="live")
        assert alias["FunctionVersion"] == "3", "the alias was not touched"
    assert run["status"] in ("SUCCEEDED", "FAILED")
    told = [n for n in p.notifications() if n["level"] in ("ops", "l1", "l2")]
    assert told, "someone is told what the switch stopped"


@pytest.mark.parametrize(
    "step",
    ["freeze_request", "freeze_discover", "remediation_guards", "freeze_claim",
     "freeze_resources", "snapshot_bucket", "verify_snapshot", "freeze_manifest",
     "resume_ingestion"],
)  # fmt: skip
def test_freeze_stops_at_the_kill_switch(
    make_pipeline: Any, ingestion_world_spec: WorldSpec, step: str
) -> None:
    p = make_pipeline(world_spec=ingestion_world_spec)
    seen = kill_before(p, step)
    [run] = p.run_event(
        load_event(FREEZE_ALARM), gate_decision="resume", acknowledge=("ons-geracao",)
    )

    assert seen, f"{step} never ran"
    assert len(intents(p)) == seen["intents"], "no action after the kill switch"
    assert run["status"] in ("SUCCEEDED", "FAILED")
    if run["status"] == "FAILED":
        assert any("ESCALATION" in (n["subject"] or "") for n in p.notifications())


def test_edge_command_refuses_under_the_kill_switch(make_pipeline: Any) -> None:
    """The ladder's restart, renewal and OTA rollback go through the same pre-action read."""
    p = make_pipeline(world_spec=WorldSpec())
    guards.set_switch(guards.KILL_SWITCH, enabled=True, reason="stop!", actor="test")
    incident = {
        "incidentId": "edge_offline_ladder-x",
        "executionId": "arn:exec",
        "edgeId": "edge-0042",
        "siteId": "site-campinas",
        "offlineSince": "2026-11-20T05:00:00+00:00",
    }
    for fn, event in [
        ("edge_command", {"incident": incident, "command": "restart"}),
        ("edge_renew_cert", {"incident": incident}),
    ]:
        with pytest.raises(Exception, match="kill_switch") as caught:
            p.lambdas.handler_for(fn)(event, None)
        assert type(caught.value).__name__ == "GuardRefused"
    assert p.extensions.iot_published == [], "nothing was sent to the edge"
    assert intents(p) == []
    refused = [r for r in p.audit_records() if r.get("outcome") == "SKIPPED_BY_GUARD"]
    assert {r["action"] for r in refused} == {"edge_restart", "edge_renew_certificate"}
