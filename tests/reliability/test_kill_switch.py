"""A kill switch set at any step of a workflow stops every action after it (DESIGN.md,
safety rules): the guards are read again right before each action, not only by the
workflow's guard step. An action always writes its intent record first, so "no intent
record after the switch" is "no action after the switch". And it stops actions, never
people (issue 19, `selfheal_shared/core/refusals.py`): every refused incident is paged.

Every workflow that acts is found from its ASL and its functions' `function.json` and run
from its sample event in the demo's scene (`local/worlds/<domain>/scenes.py`)."""

from __future__ import annotations

from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
from selfheal_cdk import spec as spec_mod
from selfheal_shared.core import guards

from local import worlds
from local.runtime import Pipeline
from local.worlds import WorldSpec
from local.worlds.services import sim
from tests.contract.asl_protocol import acting_actions
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
    ["rollback_resolve", "remediation_guards", "rollback_deployment", "rollback_disable_flags",
     "rollback_check_alarm"],
)  # fmt: skip
def test_rollback_stops_at_the_kill_switch(
    make_pipeline: Any, world_spec: WorldSpec, step: str
) -> None:
    if step == "rollback_disable_flags":
        # The flags are turned off only when the rollback does not bring the alarm back.
        world_spec.services[0].badFlags = ["new_checkout"]
    p = make_pipeline(world_spec=world_spec)
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
     "freeze_resources", "freeze_snapshot", "freeze_verify_snapshot", "freeze_manifest",
     "freeze_resume"],
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
    # The edge asked for a certificate (a CSR over its claim channel): renewal would act.
    p.lambdas.handler_for("edge_ingress")(
        {"topic": "lifo4/provision/edge-0042-claim/csr", "payload": {"csr": _csr("edge-0042")}},
        None,
    )
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


def _csr(edge_id: str) -> str:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, edge_id)])
    csr = x509.CertificateSigningRequestBuilder().subject_name(name).sign(key, hashes.SHA256())
    return csr.public_bytes(serialization.Encoding.PEM).decode()


# -- every workflow that acts ----------------------------------------------------------------


def acting_workflows() -> dict[str, list[str]]:
    """Each workflow that may change something outside selfheal, with the functions that do
    (a mutating IAM action in their `function.json`): found from the convention files, so a
    new acting workflow is in this test without an edit."""
    spec = spec_mod.load()
    return {
        name: acting
        for name, wf in sorted(spec.workflows.items())
        if (
            acting := sorted(
                fn
                for fn in wf.functions
                if acting_actions({"permissions": list(spec.functions[fn].permissions)})
            )
        )
    }


def sample_for(workflow: str) -> Path | None:
    """The sample event that starts `workflow` (its rule's `<rule>.<case>.json`), in the
    scene its domain's world (local/worlds/) gives it when one does (a scene is what makes
    it act); the first by name otherwise."""
    spec = spec_mod.load()
    rules = {name for name, rule in spec.rules.items() if rule.workflow == workflow}
    samples = sorted(p for p in SAMPLES.glob("*.json") if p.name.split(".", 1)[0] in rules)
    staged = [p for p in samples if worlds.scene_for(p) is not worlds.NONE]
    chosen = staged or samples
    return chosen[0] if chosen else None


ACTING = acting_workflows()
#: Acting workflows no sample event starts (manual input only), with the test that turns the
#: kill switch on in theirs.
SAMPLELESS = {
    "forced_ota": "tests/edge/test_forced_ota.py::test_the_kill_switch_after_the_canary_"
    "stops_the_rollout_and_pages",
    # Started by their weekly schedule (or by hand), never by an event.
    "cost_hygiene": "tests/workflow/platform/test_cost_hygiene.py::"
    "test_a_kill_switch_set_during_the_run_stops_the_next_change",
    "maintenance_window": "tests/workflow/platform/test_maintenance_window.py::"
    "test_the_kill_switch_after_the_backup_stops_the_window_and_pages",
}


def test_the_acting_workflows_are_found_and_each_has_a_sample() -> None:
    assert {"rollback_on_5xx", "freeze_ingestion", "edge_offline_ladder"} <= set(ACTING)
    assert not {"fiscal_report", "edge_silence", "battery_alarm"} & set(ACTING)
    assert {w for w in ACTING if sample_for(w) is None} == set(SAMPLELESS)


def run_sample_with_switch(sample: Path, *, before: tuple[str, ...] = ()) -> dict[str, Any]:
    """The sample in its demo scene, the kill switch turned on right after its first action
    (before the next step runs), or with `before` right before the first of these functions
    runs: what was done and who was told after it."""
    scene = worlds.scene_for(sample)
    with ExitStack() as stack:
        p = stack.enter_context(Pipeline(scheduler=scene.scheduler))
        if not scene.services and sim.needed_for(load_event(sample)):
            stack.enter_context(sim.running(p))
        armed = scene.stage(p, stack)
        switched: dict[str, Any] = {}

        def switch(name: str, _event: Any) -> None:
            done = intents(p)
            if switched or not (name in before if before else done):
                return
            records = p.audit_records()
            switched.update(seq=str(records[-1]["seq"]) if records else "", intents=len(done))
            switched["notified"] = len(p.notifications())
            guards.set_switch(guards.KILL_SWITCH, enabled=True, reason="drill", actor="test")

        p.lambdas.before_invoke.append(switch)
        runs = p.run_event(
            load_event(sample),
            timeout=300,
            gate_decision="resume",
            acknowledge=scene.acknowledge,
            armed=armed,
            hold_until_parked=scene.hold_until_gate,
        )
        after = [r for r in p.audit_records() if switched and str(r["seq"]) > switched["seq"]]
        told = p.notifications()[switched.get("notified", 0) :]
        return {
            "switched": bool(switched),
            "runs": [(r["workflow"], r["status"], r["states"][-1]) for r in runs],
            "last_outcomes": [r["actions"][-1]["outcome"] if r["actions"] else "" for r in runs],
            "intents_after": [r["action"] for r in after if r["action"].endswith("_intent")],
            "refused_after": [r["action"] for r in after if r.get("outcome") == "SKIPPED_BY_GUARD"],
            "escalations_after": [r["action"] for r in after if r["action"] == "escalate"],
            "pages_after": [
                (n["level"], n["subject"]) for n in told if n["level"] in ("l1", "l2", "l3")
            ],
        }


@pytest.mark.parametrize("when", ["after_first_action", "before_first_action"])
@pytest.mark.parametrize("workflow", sorted(set(ACTING) - set(SAMPLELESS)))
def test_every_acting_workflow_stops_at_the_kill_switch_and_pages(workflow: str, when: str) -> None:
    """Issue 19: the kill switch turned on right after a workflow's first action, or right
    before it → no action after it (no intent record), and every refused incident is paged
    (L1 or above, or an escalation record: a P4's is its ticket to ops), never closed
    quietly. After the first action, an incident that action already fixed has nothing left
    to refuse: it ends FIXED."""
    sample = sample_for(workflow)
    assert sample is not None
    first = when == "before_first_action"
    seen = run_sample_with_switch(sample, before=tuple(ACTING[workflow]) if first else ())

    assert seen["switched"], f"{sample.name}: no action was ever taken"
    assert seen["intents_after"] == [], "no action after the kill switch"
    if first or seen["refused_after"]:
        assert seen["refused_after"], seen
        assert seen["pages_after"] or seen["escalations_after"], f"refused, never paged: {seen}"
    else:
        # The incident's own run (its page chain's watcher, if any, ends as its chain does).
        own = [i for i, (w, _, _) in enumerate(seen["runs"]) if w == workflow]
        assert [seen["runs"][i][1] for i in own] == ["SUCCEEDED"], seen
        assert [seen["last_outcomes"][i] for i in own] == ["FIXED"], seen
