"""rollback_on_5xx end to end through the local runtime: real rule, real ASL, moto.

Runbook 001 ("Problema: Alta Taxa de Erro nas Funções Lambda"), Resolução:
  1. **Se implantação recente causou problemas:** rollback-function
  2. **Se problema de configuração:** desabilitar feature flag problemática
"""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from local.runtime import Pipeline
from local.timeline import render
from local.worlds import WorldSpec
from local.worlds.deploy import ApiRouteSpec, CodeDeploySpec
from tests.helpers import SAMPLES, load_event

API_5XX = SAMPLES / "rollback_on_5xx.apigateway_5xx_alarm.json"
COMPOSITE_5XX = SAMPLES / "rollback_on_5xx.composite_5xx_alarm.json"
#: Past the window in which a deployment counts as recent (SELFHEAL_RECENT_DEPLOY_HOURS).
NOT_RECENT_SECONDS = 25 * 3600


def live(p: Pipeline, function: str = "orders-api") -> str:
    return str(p.client("lambda").get_alias(FunctionName=function, Name="live")["FunctionVersion"])


def flag_enabled(p: Pipeline, name: str) -> bool:
    ids = p.world.appconfig_ids["orders-api"]
    ac = p.client("appconfig")
    versions = ac.list_hosted_configuration_versions(
        ApplicationId=ids["application"], ConfigurationProfileId=ids["profile"]
    )["Items"]
    latest = max(v["VersionNumber"] for v in versions)
    doc = json.loads(
        ac.get_hosted_configuration_version(
            ApplicationId=ids["application"],
            ConfigurationProfileId=ids["profile"],
            VersionNumber=latest,
        )["Content"].read()
    )
    return bool(doc["values"][name]["enabled"])


def rollbacks(p: Pipeline) -> list[dict[str, Any]]:
    return [
        r for r in p.audit_records() if r["action"] == "rollback_alias" and not r.get("outcome")
    ]


def outcomes(summary: dict[str, Any]) -> dict[str, str]:
    return {a["name"]: a["outcome"] for a in summary["actions"]}


@pytest.mark.procedure("D1", "recent deployment -> roll back, verify")
def test_rollback_happens_and_is_verified(pipeline: Pipeline, alarm_event: dict) -> None:
    """ "1. Se implantação recente causou problemas: ... --action rollback-function": the
    rollback is verified, and the implicated flag is left on because the alarm recovered."""
    [run] = pipeline.run_event(alarm_event)

    assert run["status"] == "SUCCEEDED"
    assert live(pipeline) == "2"
    assert flag_enabled(pipeline, "new_checkout"), "recovered after the rollback: flag untouched"
    assert flag_enabled(pipeline, "dark_mode")
    assert outcomes(run) == {"rollback_alias": "FIXED"}
    assert run["states"][-3:] == ["RecoveredAfterRollback", "NotifyFixedByRollback", "Fixed"]
    assert "DisableFlags" not in run["states"]
    [record] = rollbacks(pipeline)
    assert json.loads(record["inverse"]) == {
        "api": "lambda:UpdateAlias",
        "FunctionName": "orders-api",
        "Name": "live",
        "FunctionVersion": "3",
    }
    [diagnosis] = [s for s in run["steps"] if s["name"] == "diagnose"]
    assert diagnosis["result"].startswith("roll back first (alias moved to version 3")
    assert "turn off new_checkout only if the alarm stays in ALARM" in diagnosis["result"]
    levels = [n["level"] for n in pipeline.notifications()]
    assert levels == ["ops"], "a fixed incident informs ops and pages nobody"
    assert len(pipeline.extensions.appconfig_deployments) == 1, "only the world's own deployment"


@pytest.mark.procedure("D1", "configuration problem (no recent deployment) -> flag off, verify")
def test_configuration_problem_turns_the_implicated_flag_off(
    make_pipeline: Any, world_spec: WorldSpec
) -> None:
    """ "2. Se problema de configuração: # Desabilitar feature flag problemática": with no
    recent deployment, the flag the function's tags implicate is turned off (today the
    incident escalated without touching it), verified, and credited alone."""
    svc = world_spec.services[0]
    assert svc.appconfig is not None
    svc.healthyVersions, svc.badFlags = ["1", "2", "3"], ["new_checkout"]
    svc.appconfig.flags["new_checkout"] = False
    p = make_pipeline(world_spec=world_spec)
    p.clock.advance(NOT_RECENT_SECONDS)  # version 3 went live a day ago
    p.world.deploy_flags(p, "orders-api", {"new_checkout": True})  # AppConfig, just now
    p.clock.advance(60)  # the alarm evaluates the errors the flag causes: ALARM
    [arn] = p.started
    p.wait([arn])
    run = p.execution_summary(arn)

    assert run["status"] == "SUCCEEDED", run
    assert live(p) == "3", "no recent deployment: the alias is not rolled back"
    assert not flag_enabled(p, "new_checkout") and flag_enabled(p, "dark_mode")
    assert outcomes(run) == {"disable_flags": "FIXED"}
    assert "RollBack" not in run["states"]
    [diagnosis] = [s for s in run["steps"] if s["name"] == "diagnose"]
    assert diagnosis["result"].startswith("turn off new_checkout: no recent deployment")
    assert (
        "no change of the alias to version 3 in CloudTrail in the last 24 h"
        in (diagnosis["result"])
    )
    [flags] = [
        r for r in p.audit_records() if r["action"] == "disable_flags" and not r.get("outcome")
    ]
    assert "flags new_checkout implicated" in flags["why"]
    assert "deployment 2 at" in flags["why"] and "turned on new_checkout" in flags["why"]
    assert "no recent deployment" in flags["why"], "the record says which evidence chose it"
    assert [n["level"] for n in p.notifications()] == ["ops"]


@pytest.mark.procedure(
    "D1", "recent deployment and flag -> roll back first, then flag if still failing"
)
def test_rollback_first_then_the_flag_and_only_the_flag_is_credited(
    make_pipeline: Any, world_spec: WorldSpec, alarm_event: dict
) -> None:
    """Both branches of "Resolução" apply: the runbook checks recent deployments first
    ("1. Verificar implantações recentes"), so the rollback goes first and is verified; the
    alarm stays in ALARM (the flag is the cause), so "2. Se problema de configuração" turns
    the flag off. Only the action followed by recovery is FIXED (today both were)."""
    world_spec.services[0].badFlags = ["new_checkout"]
    p = make_pipeline(world_spec=world_spec)
    [run] = p.run_event(alarm_event)

    assert run["status"] == "SUCCEEDED", run
    assert live(p) == "2" and not flag_enabled(p, "new_checkout")
    assert outcomes(run) == {"rollback_alias": "NOT_FIXED", "disable_flags": "FIXED"}
    states = run["states"]
    assert states.index("RollBack") < states.index("DisableFlags")
    assert states.count("CheckAfterRollback") == 10, "the rollback was verified before"
    not_fixed = next(a for a in run["actions"] if a["outcome"] == "NOT_FIXED")
    assert "still ALARM after 10 checks following the rollback" in not_fixed["why"]
    fixed = next(a for a in run["actions"] if a["outcome"] == "FIXED")
    assert "after turning the implicated flags off" in fixed["why"]
    [flags] = [
        r for r in p.audit_records() if r["action"] == "disable_flags" and not r.get("outcome")
    ]
    assert "still in ALARM after the rollback" in flags["why"]
    [note] = p.notifications()
    assert note["level"] == "ops" and note["message"]["outcome"] == "FIXED"
    assert [a["action"] for a in note["message"]["notFixed"]] == ["rollback_alias"]


@pytest.mark.procedure("D1", "implicated flag already off -> nothing changed, page L1")
def test_implicated_flag_already_off_changes_nothing_and_pages(
    make_pipeline: Any, world_spec: WorldSpec, alarm_event: dict
) -> None:
    """The configuration branch with nothing to turn off: no "verified" wait, no FIXED; L1
    hears that turning the flags off changed nothing."""
    svc = world_spec.services[0]
    assert svc.appconfig is not None
    svc.healthyVersions, svc.appconfig.flags["new_checkout"] = ["1", "2"], False
    p = make_pipeline(world_spec=world_spec)
    p.clock.advance(NOT_RECENT_SECONDS)
    # Turned on an hour before the alarm (implicated), then off again by someone.
    p.world.deploy_flags(p, "orders-api", {"new_checkout": True})
    p.clock.advance(30 * 60)
    p.world.deploy_flags(p, "orders-api", {"new_checkout": False})
    p.clock.advance(30 * 60)
    [run] = p.run_event(alarm_event)

    assert run["status"] == "FAILED" and run["error"] == "selfheal.NotFixed"
    assert run["states"][-3:] == ["FlagsChanged", "EscalateFlagsUnchanged", "NotFixed"]
    assert outcomes(run) == {"rollback_on_5xx": "NOT_FIXED", "escalate": "ESCALATED"}
    assert live(p) == "3" and len(p.extensions.appconfig_deployments) == 3, "none of ours"
    [page] = [n for n in p.notifications() if n["level"] == "l1"]
    assert "changed nothing: flags new_checkout already off" in page["message"]["reason"]


@pytest.mark.procedure("D1", "neither action brings the alarm back -> escalate NOT_FIXED")
def test_not_recovered_escalates_and_never_reports_success(
    make_pipeline: Any, world_spec: WorldSpec, alarm_event: dict
) -> None:
    """Rolled back and verified, flag turned off and verified: still ALARM, so people."""
    world_spec.services[0].healthyVersions = ["1"]  # the previous version is bad too
    p = make_pipeline(world_spec=world_spec)
    [run] = p.run_event(alarm_event)

    assert run["status"] == "FAILED"
    assert run["error"] == "selfheal.NotFixed"
    assert live(p) == "2" and not flag_enabled(p, "new_checkout"), "both actions happened"
    assert outcomes(run) == {"rollback_on_5xx": "NOT_FIXED", "escalate": "ESCALATED"}
    assert run["states"].count("CheckAfterRollback") == 10, "bounded verification: 10 checks"
    assert run["states"].count("CheckAfterFlags") == 10, "and 10 after the flag"
    pages = [n for n in p.notifications() if n["level"] == "l1"]
    assert pages and "still ALARM" in pages[0]["message"]["reason"]
    done = pages[0]["message"]["done"]
    assert any(d.startswith("rollback_alias:") for d in done)
    assert any(d.startswith("disable_flags:") for d in done)
    # Twenty minutes of checks ran in virtual time.
    assert (p.clock.now() - p.journal[0].at).total_seconds() == pytest.approx(1200)


def test_second_alarm_within_30_minutes_is_skipped_by_guard(
    pipeline: Pipeline, alarm_event: dict
) -> None:
    pipeline.run_event(alarm_event)
    pipeline.clock.advance(10 * 60)
    pipeline.world.deploy(pipeline, "orders-api", healthy=False)  # a new bad release: v4
    [arn] = pipeline.set_alarm_state("orders-api-errors", "ALARM", "errors after v4")
    pipeline.wait([arn])
    run = pipeline.execution_summary(arn)

    assert run["status"] == "SUCCEEDED"
    assert outcomes(run) == {"rollback_on_5xx": "SKIPPED_BY_GUARD", "escalate": "ESCALATED"}
    assert live(pipeline) == "4", "the guard left the alias alone"
    assert len(rollbacks(pipeline)) == 1
    skip = next(r for r in pipeline.audit_records(arn) if r.get("outcome") == "SKIPPED_BY_GUARD")
    assert "30 min" in skip["why"]
    [page] = [n for n in pipeline.notifications() if n["level"] == "l1"]
    assert "the cooldown guard refused" in page["message"]["reason"]


def test_after_the_cooldown_a_new_alarm_acts_again(pipeline: Pipeline, alarm_event: dict) -> None:
    pipeline.run_event(alarm_event)
    pipeline.clock.advance(31 * 60)
    pipeline.world.deploy(pipeline, "orders-api", healthy=False)
    [arn] = pipeline.set_alarm_state("orders-api-errors", "ALARM", "errors after v4")
    pipeline.wait([arn])

    assert pipeline.execution_summary(arn)["status"] == "SUCCEEDED"
    assert live(pipeline) == "2", "v3 was rolled away from once; the rollback skips it"
    assert len(rollbacks(pipeline)) == 2


def test_dry_run_changes_nothing_and_says_what_it_would_do(
    make_pipeline: Any, alarm_event: dict
) -> None:
    p = make_pipeline(dry_run=True)
    [run] = p.run_event(alarm_event)

    assert run["status"] == "SUCCEEDED"
    assert outcomes(run) == {"rollback_on_5xx": "SKIPPED_BY_GUARD", "escalate": "ESCALATED"}
    assert live(p) == "3" and flag_enabled(p, "new_checkout")
    [skip] = [r for r in p.audit_records(run["executionArn"]) if r["action"] == "rollback_on_5xx"]
    details = json.loads(skip["details"])
    assert details["guard"] == "dry_run"
    assert details["wouldDo"]["deployment"] == {
        "kind": "alias",
        "fromVersion": "3",
        "toVersion": "2",
        "deploymentId": None,
        "reason": details["wouldDo"]["deployment"]["reason"],
    }
    assert details["wouldDo"]["diagnosis"]["first"] == "rollback"
    assert details["wouldDo"]["diagnosis"]["then"] == "disable_flags"


GUARDS = {
    "kill switch": "kill_switch",
    "dry-run": "dry_run",
    "maintenance window": "maintenance_window",
}


@pytest.mark.procedure("D1", "guard refused while in ALARM -> page L1 naming the guard")
@pytest.mark.parametrize("guard", sorted(GUARDS))
def test_a_spike_skipped_by_a_guard_pages_l1_and_says_which_guard(
    make_pipeline: Any, alarm_event: dict, guard: str
) -> None:
    """A skipped spike is not green silence: the alarm is still in ALARM and nothing was
    done, so L1 ("Nível 1 - Equipe de Operações", runbook 001 "Matriz de Escalação") is
    paged, and the timeline names the guard that refused."""
    from datetime import timedelta

    from selfheal_shared.core import guards

    p = make_pipeline()
    now = p.clock.now()
    if guard == "kill switch":
        guards.set_switch(guards.KILL_SWITCH, enabled=True, reason="incident review", actor="t")
    elif guard == "dry-run":
        guards.set_switch(guards.DRY_RUN, enabled=True, reason="rehearsal", actor="t")
    elif guard == "maintenance window":
        guards.set_maintenance(
            "orders-api", starts=now, ends=now + timedelta(hours=2), reason="db upgrade"
        )
    [run] = p.run_event(alarm_event)

    assert run["status"] == "SUCCEEDED"
    assert outcomes(run) == {"rollback_on_5xx": "SKIPPED_BY_GUARD", "escalate": "ESCALATED"}
    assert live(p) == "3" and flag_enabled(p, "new_checkout"), "nothing was changed"
    [page] = [n for n in p.notifications() if n["level"] == "l1"]
    assert page["message"]["outcome"] == "SKIPPED_BY_GUARD"
    reason = page["message"]["reason"]
    assert "alarm orders-api-errors is still in ALARM and nothing was changed" in reason
    assert f"the {GUARDS[guard]} guard refused" in reason
    timeline = render(p, [run], p.journal[0].at)
    assert "escalate: ESCALATED - alarm orders-api-errors is still in ALARM" in timeline
    assert f"the {GUARDS[guard]} guard refused" in timeline
    assert run["states"][-3:] == ["WhichGuard", "EscalateSkipped", "SkippedAndPaged"]


@pytest.mark.procedure("D1", "scope silenced -> nothing changed, ops told, no page")
def test_a_silenced_scope_is_told_to_ops_without_a_page(
    make_pipeline: Any, alarm_event: dict
) -> None:
    """ "Silence {durationMinutes, reason} suppresses automation and paging for that scope"
    (catalog E9; runbook 000 "Silenciar alarme (manutenção programada)"): nothing changes
    and nobody is paged, but ops still get the notification naming the silence."""
    from selfheal_shared.core import guards

    p = make_pipeline()
    guards.silence("orders-api", minutes=60, reason="manutenção preventiva")
    [run] = p.run_event(alarm_event)

    assert run["status"] == "SUCCEEDED"
    assert outcomes(run) == {"rollback_on_5xx": "SKIPPED_BY_GUARD"}
    assert live(p) == "3" and flag_enabled(p, "new_checkout"), "nothing was changed"
    assert [n for n in p.notifications() if n["level"] != "ops"] == [], "no page"
    [note] = p.notifications()
    assert note["message"]["outcome"] == "SKIPPED_BY_GUARD"
    assert "silenced on orders-api" in json.dumps(note["message"])
    assert run["states"][-3:] == ["WhichGuard", "NotifySkipped", "Skipped"]


def test_duplicate_event_rolls_back_once(pipeline: Pipeline, alarm_event: dict) -> None:
    duplicate = copy.deepcopy(alarm_event)
    duplicate["id"] = "another-delivery-of-the-same-transition"
    arns = pipeline.put_event(alarm_event) + pipeline.put_event(duplicate)
    pipeline.wait(arns)
    runs = [pipeline.execution_summary(a) for a in arns]

    assert len(rollbacks(pipeline)) == 1
    assert live(pipeline) == "2"
    first, second = sorted(runs, key=lambda r: len(r["states"]), reverse=True)
    assert outcomes(first) == {"rollback_alias": "FIXED"}
    assert second["states"] == ["Claim", "IsDuplicate", "Duplicate"], "ends at its claim"
    assert outcomes(second) == {} and second["steps"] == []
    assert [n["subject"] for n in pipeline.notifications()] == [
        "[selfheal] rollback_on_5xx: FIXED"
    ], "one notification for one incident"
    assert all(r["status"] == "SUCCEEDED" for r in runs)


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda e: e["detail"].pop("alarmName"), "detail.alarmName"),
        (lambda e: e["detail"]["state"].update(value="MAYBE"), "detail.state.value"),
        (
            lambda e: e["detail"]["configuration"]["metrics"][0]["metricStat"]["metric"][
                "dimensions"
            ].update(FunctionName=""),
            "FunctionName",
        ),
        (
            lambda e: e["detail"]["configuration"]["metrics"][0]["metricStat"]["metric"][
                "dimensions"
            ].update(FunctionName="no-such-fn"),
            "FunctionName",
        ),
    ],
    ids=["no-alarm-name", "bad-state", "empty-function", "unknown-function"],
)
def test_malformed_alarm_fails_into_escalation_and_changes_nothing(
    pipeline: Pipeline, alarm_event: dict, mutate: Any, field: str
) -> None:
    mutate(alarm_event)
    arn = pipeline.start_manual("rollback_on_5xx", alarm_event)  # as from the console
    pipeline.wait([arn])
    run = pipeline.execution_summary(arn)

    assert run["status"] == "FAILED" and run["error"] == "selfheal.Failed"
    assert live(pipeline) == "3" and flag_enabled(pipeline, "new_checkout")
    assert outcomes(run) == {"rollback_on_5xx": "FAILED", "escalate": "ESCALATED"}
    failed = next(r for r in pipeline.audit_records(arn) if r.get("outcome") == "FAILED")
    assert "InputInvalid" in failed["why"] and field in failed["why"]
    pages = {n["level"] for n in pipeline.notifications()}
    assert pages == {"l1", "l2"}, "a broken automation pages L1 and L2"


def test_failure_half_way_escalates_and_leaves_the_other_change_alone(
    pipeline: Pipeline, alarm_event: dict
) -> None:
    """Someone moves the alias between detection and action: never overwrite them."""
    from local.lambda_adapter import load_handler

    spec = pipeline.spec.functions["rollback_resolve"]
    real = load_handler(spec)

    def resolve_then_someone_deploys(event: dict, context: Any) -> Any:
        result = real(event, context)
        pipeline.world.deploy(pipeline, "orders-api", healthy=True)
        return result

    pipeline.lambdas._handlers["selfheal-fn-rollback-resolve"] = (
        spec,
        resolve_then_someone_deploys,
    )
    [run] = pipeline.run_event(alarm_event)

    assert run["status"] == "FAILED"
    assert live(pipeline) == "4", "the operator's deployment stands"
    assert flag_enabled(pipeline, "new_checkout"), "nothing after the failed step ran"
    failed = next(a for a in run["actions"] if a["outcome"] == "FAILED")
    assert "ConcurrentChange" in failed["why"]
    assert "ESCALATED" in outcomes(run).values()


@pytest.mark.procedure("D1", "no recent deployment and no flag -> escalate")
def test_nothing_to_roll_back_escalates(pipeline: Pipeline, alarm_event: dict) -> None:
    dims = alarm_event["detail"]["configuration"]["metrics"][0]["metricStat"]["metric"][
        "dimensions"
    ]
    dims.update(FunctionName="billing-api", Resource="billing-api:live")
    alarm_event["detail"]["alarmName"] = "billing-api-errors"
    pipeline.client("cloudwatch").set_alarm_state(
        AlarmName="billing-api-errors", StateValue="ALARM", StateReason="errors"
    )
    pipeline.client("lambda").update_alias(
        FunctionName="billing-api", Name="live", FunctionVersion="1"
    )
    [run] = pipeline.run_event(alarm_event)

    assert run["status"] == "FAILED" and run["error"] == "selfheal.Escalated"
    assert outcomes(run) == {"escalate": "ESCALATED"}
    assert live(pipeline, "billing-api") == "1"
    [page] = [n for n in pipeline.notifications() if n["level"] == "l1"]
    assert "no earlier published version" in page["message"]["reason"]
    assert "no configuration implicated" in page["message"]["reason"]


@pytest.mark.procedure("D1", "deployment in progress -> stop it with rollback, verify")
def test_codedeploy_deployment_is_stopped_with_rollback(
    make_pipeline: Any, world_spec: WorldSpec, alarm_event: dict
) -> None:
    svc = world_spec.services[0]
    svc.codedeploy = CodeDeploySpec(application="orders", group="orders-live")
    svc.live = "2"  # CodeDeploy has not shifted the alias yet; stopping restores it
    p = make_pipeline(world_spec=world_spec)
    [run] = p.run_event(alarm_event)

    assert run["status"] == "SUCCEEDED"
    dep = p.client("codedeploy").get_deployment(deploymentId=p.world.codedeploy_ids["orders-api"])
    assert dep["deploymentInfo"]["status"] == "Stopped"
    assert outcomes(run)["stop_codedeploy"] == "FIXED"
    assert rollbacks(p) == [], "no alias rollback on top of CodeDeploy's own"


def test_replay_json_summary(capsys: pytest.CaptureFixture[str]) -> None:
    from local.cli import main
    from tests.helpers import FIVE_XX

    assert main(["replay", str(FIVE_XX), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    [execution] = summary["executions"]
    assert execution["workflow"] == "rollback_on_5xx"
    assert execution["status"] == "SUCCEEDED"
    assert ("rollback_alias", "FIXED") in {(a["name"], a["outcome"]) for a in execution["actions"]}
    assert isinstance(execution["duration_ms"], int) and execution["states"][:3] == [
        "Claim",
        "IsDuplicate",
        "Resolve",
    ]


# -- API Gateway and composite alarms (runbook 001: "API retornando erros 5xx") ---------------


def diagnosis_of(run: dict[str, Any]) -> str:
    [step] = [s for s in run["steps"] if s["name"] == "diagnose"]
    return str(step["result"])


@pytest.mark.procedure("D1", "API Gateway 5XX alarm -> the stage's integration function")
def test_api_gateway_5xx_alarm_rolls_back_the_stage_integration(pipeline: Pipeline) -> None:
    """Sintomas: "API retornando erros 5xx" — a 5XXError alarm names an API and a stage, no
    function (today it matched the rule's metric list and nothing happened, not even a
    page). The stage's Lambda integration (its alias from a stage variable) is the function
    whose recent deployment is rolled back."""
    [run] = pipeline.run_event(load_event(API_5XX))

    assert run["status"] == "SUCCEEDED", run
    assert outcomes(run) == {"rollback_alias": "FIXED"}
    assert live(pipeline, "catalog-api") == "2" and live(pipeline) == "3"
    assert diagnosis_of(run).startswith(
        "REST API storefront stage prod: GET /catalog, POST /catalog invoke catalog-api:live"
    )
    [note] = pipeline.notifications()
    assert (
        note["message"]["summary"] == "alarm storefront-prod-5xx returned to OK after the rollback"
    )


@pytest.mark.procedure("D1", "API stage with several functions -> page L1 with the reason")
def test_api_stage_with_several_functions_pages_why(
    make_pipeline: Any, world_spec: WorldSpec
) -> None:
    """The stage's 5XXError cannot say which of two functions fails: nothing is guessed or
    rolled back, and L1 is paged with the reason (today: nothing at all happened)."""
    world_spec.apis[0].routes.append(ApiRouteSpec(path="orders", function="orders-api"))
    p = make_pipeline(world_spec=world_spec)
    [run] = p.run_event(load_event(API_5XX))

    assert run["status"] == "FAILED" and run["error"] == "selfheal.Escalated"
    assert run["states"][-3:] == ["Routable", "EscalateCannotRoute", "CannotRoute"]
    assert outcomes(run) == {"escalate": "ESCALATED"}
    assert live(p, "catalog-api") == "3" and live(p) == "3", "nothing was rolled back"
    [page] = [n for n in p.notifications() if n["level"] == "l1"]
    reason = page["message"]["reason"]
    assert "REST API storefront stage prod integrates several functions" in reason
    assert "catalog-api:live (GET /catalog, POST /catalog)" in reason
    assert "orders-api:live (GET /orders)" in reason


@pytest.mark.procedure("D1", "composite alarm over 5XX alarms -> its child's function")
def test_composite_alarm_routes_through_its_child(pipeline: Pipeline) -> None:
    """A composite alarm (its rule names the child alarms) routes the same way: through the
    child in ALARM to the stage's integration function."""
    [run] = pipeline.run_event(load_event(COMPOSITE_5XX))

    assert run["status"] == "SUCCEEDED", run
    assert outcomes(run) == {"rollback_alias": "FIXED"}
    assert live(pipeline, "catalog-api") == "2"
    assert diagnosis_of(run).startswith(
        "composite alarm storefront-5xx: child storefront-prod-5xx in ALARM; "
        "REST API storefront stage prod"
    )
    checks = [s for s in run["states"] if s == "CheckAfterRollback"]
    assert checks, "recovery is verified on the composite itself"
    [note] = pipeline.notifications()
    assert note["message"]["summary"] == "alarm storefront-5xx returned to OK after the rollback"


def test_composite_whose_children_point_at_two_functions_pages_why(
    make_pipeline: Any, world_spec: WorldSpec
) -> None:
    world_spec.compositeAlarms[0].rule = 'ALARM("storefront-prod-5xx") OR ALARM(orders-api-errors)'
    p = make_pipeline(world_spec=world_spec)
    [run] = p.run_event(load_event(COMPOSITE_5XX))

    assert run["status"] == "FAILED" and run["error"] == "selfheal.Escalated"
    assert live(p, "catalog-api") == "3" and live(p) == "3"
    [page] = [n for n in p.notifications() if n["level"] == "l1"]
    assert (
        "point at several functions (catalog-api:live, orders-api:live)"
        in page["message"]["reason"]
    )


# --- from the raw signal: the function's Errors metric, evaluated by the alarm -----------


@pytest.mark.procedure("D1", "recent deployment -> roll back, verify")
def test_errors_put_by_lambda_raise_the_alarm_and_the_rollback_brings_it_back_to_ok(
    make_pipeline: Any, world_spec: WorldSpec
) -> None:
    """The `lambda-errors` alarm of orders-api created from its definition (Errors Sum >= 5
    in a minute, notBreaching), evaluated from the AWS/Lambda Errors datapoints Lambda would
    put: 42 errors a minute while the alias serves the bad version 3, none once it serves a
    healthy one. ALARM starts the workflow; the rollback's verification sees the alarm go
    back to OK by evaluation. No hand-written alarm event."""
    orders = next(s for s in world_spec.services if s.function == "orders-api")
    orders.alarm = None  # not the world's alarm: the definition's, evaluated from data
    orders.appconfig, orders.tags = None, {"selfheal:managed": "true"}
    world_spec.services, world_spec.apis, world_spec.compositeAlarms = [orders], [], []
    p = make_pipeline(
        alarm_instances={"lambda-errors": [{"FunctionName": "orders-api", "Alias": "live"}]}
    )
    dims = [{"Name": "FunctionName", "Value": "orders-api"},
            {"Name": "Resource", "Value": "orders-api:live"}]  # fmt: skip

    def lambda_publishes_the_minute(now: Any = None) -> None:
        errors = 0 if live(p) in orders.healthyVersions else 42
        p.client("cloudwatch").put_metric_data(
            Namespace="AWS/Lambda",
            MetricData=[
                {
                    "MetricName": "Errors",
                    "Dimensions": dims,
                    "Value": errors,
                    "Timestamp": p.clock.now(),
                }
            ],
        )

    lambda_publishes_the_minute()
    p.clock.listeners.append(lambda_publishes_the_minute)
    p.clock.advance(60)

    [arn] = p.started
    p.wait([arn], timeout=120)
    run = p.execution_summary(arn)
    assert run["status"] == "SUCCEEDED", run
    assert live(p) == "2" and outcomes(run) == {"rollback_alias": "FIXED"}
    alarm_events = [j.data["event"]["detail"] for j in p.journal if j.kind == "event"]
    assert [(d["alarmName"], d["previousState"]["value"], d["state"]["value"])
            for d in alarm_events] == [("orders-api-errors", "OK", "ALARM"),
                                       ("orders-api-errors", "ALARM", "OK")]  # fmt: skip
    assert json.loads(alarm_events[0]["state"]["reasonData"])["recentDatapoints"] == [42.0]
    assert json.loads(alarm_events[1]["state"]["reasonData"])["recentDatapoints"] == [0.0]


# --- issue 22: FIXED only after an action; the evidence picks what is implicated ----------


def _after_resolve(pipeline: Pipeline, then: Any) -> None:
    """Run `then(pipeline)` right after the incident is resolved (before anything acts)."""
    from local.lambda_adapter import load_handler

    spec = pipeline.spec.functions["rollback_resolve"]
    real = load_handler(spec)

    def resolve_then(event: dict, context: Any) -> Any:
        result = real(event, context)
        then(pipeline)
        return result

    pipeline.lambdas._handlers["selfheal-fn-rollback-resolve"] = (spec, resolve_then)


@pytest.mark.procedure("D1", "FIXED only after an action: nothing rolled back -> not FIXED")
def test_alias_already_rolled_back_by_someone_is_not_credited(
    pipeline: Pipeline, alarm_event: dict
) -> None:
    """An operator rolls the alias back by hand between the diagnosis and the rollback:
    selfheal changes nothing, the alarm returns to OK, and the outcome says so
    (NO_ACTION_NEEDED), never FIXED ("returned to OK after the rollback" was a lie)."""
    _after_resolve(
        pipeline,
        lambda p: p.client("lambda").update_alias(
            FunctionName="orders-api", Name="live", FunctionVersion="2"
        ),
    )
    [run] = pipeline.run_event(alarm_event)

    assert run["status"] == "SUCCEEDED", run
    assert live(pipeline) == "2" and rollbacks(pipeline) == []
    assert "FIXED" not in outcomes(run).values()
    [note] = pipeline.notifications()
    assert note["level"] == "ops"
    assert note["message"]["outcome"] == "NO_ACTION_NEEDED"
    assert "selfheal changed nothing" in note["message"]["summary"]
    assert "alias live already on version 2" in note["message"]["summary"]


@pytest.mark.procedure(
    "D1", "FIXED only after an action: nothing rolled back, still ALARM -> escalate"
)
def test_nothing_rolled_back_and_still_failing_escalates_without_credit(
    make_pipeline: Any, world_spec: WorldSpec, alarm_event: dict
) -> None:
    """Someone moved the alias to the version selfheal would pick, but that one fails too
    and no flag is implicated: nothing was done, so L1 hears it (ESCALATED), not NOT_FIXED
    "after the last action" and never FIXED."""
    svc = world_spec.services[0]
    svc.healthyVersions, svc.tags = ["1"], {"selfheal:managed": "true"}
    p = make_pipeline(world_spec=world_spec)
    _after_resolve(
        p,
        lambda q: q.client("lambda").update_alias(
            FunctionName="orders-api", Name="live", FunctionVersion="2"
        ),
    )
    [run] = p.run_event(alarm_event)

    assert run["status"] == "FAILED" and run["error"] == "selfheal.Escalated", run
    assert rollbacks(p) == [] and live(p) == "2"
    [page] = [n for n in p.notifications() if n["level"] == "l1"]
    assert page["message"]["outcome"] == "ESCALATED"
    reason = page["message"]["reason"]
    assert "the rollback changed nothing (alias live already on version 2)" in reason
    assert "still ALARM" in reason


@pytest.mark.procedure("D1", "recent deployment is the alias change (CloudTrail), not the publish")
def test_an_old_version_made_live_now_is_a_recent_deployment(
    make_pipeline: Any, world_spec: WorldSpec
) -> None:
    """Version 3 was published a day ago but the alias was moved to it only now: that is
    the recent deployment (runbook 001 "Verificar implantações recentes"). A Lambda alias
    has no timestamp; its change is read from CloudTrail's UpdateAlias event (before, the
    version's publish time made it "not recent" and the alias was never rolled back)."""
    svc = world_spec.services[0]
    svc.live = "2"
    p = make_pipeline(world_spec=world_spec)
    p.clock.advance(NOT_RECENT_SECONDS)  # version 3 was published a day ago
    p.client("lambda").update_alias(FunctionName="orders-api", Name="live", FunctionVersion="3")
    p.clock.advance(60)  # the world's alarm evaluates the errors of version 3: ALARM
    [arn] = p.started
    p.wait([arn])
    run = p.execution_summary(arn)

    assert run["status"] == "SUCCEEDED", run
    assert live(p) == "2", "rolled back to the version the alias served before"
    assert outcomes(run) == {"rollback_alias": "FIXED"}
    assert diagnosis_of(run).startswith("roll back (alias moved to version 3 1 min ago)")


@pytest.mark.procedure(
    "D1", "flag tagged but not deployed shortly before the alarm -> not implicated"
)
def test_a_tagged_flag_deployed_long_ago_is_not_implicated(
    make_pipeline: Any, world_spec: WorldSpec, alarm_event: dict
) -> None:
    """new_checkout is tagged for orders-api and on, but its configuration was deployed a
    day before the alarm: it is not "the configuration problem" (runbook 001 D1), so it
    is left on and people are paged with what was found (before: every tagged flag was
    implicated and turned off)."""
    svc = world_spec.services[0]
    svc.healthyVersions = ["1", "2", "3"]
    svc.badFlags = ["dark_mode"]  # the real cause: untagged, nothing selfheal may blame
    p = make_pipeline(world_spec=world_spec)
    p.clock.advance(NOT_RECENT_SECONDS)
    [run] = p.run_event(alarm_event)

    assert run["status"] == "FAILED" and run["error"] == "selfheal.Escalated", run
    assert flag_enabled(p, "new_checkout") and flag_enabled(p, "dark_mode"), "nothing turned off"
    assert len(p.extensions.appconfig_deployments) == 1, "only the world's own deployment"
    assert "DisableFlags" not in run["states"]
    [page] = [n for n in p.notifications() if n["level"] == "l1"]
    reason = page["message"]["reason"]
    assert "no configuration implicated: flags new_checkout are tagged" in reason
    assert "in the 24 h before the alarm: no deployment of its profile" in reason
