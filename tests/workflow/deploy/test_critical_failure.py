"""critical_failure (runbook 001 "Falha Crítica do Sistema", catalog D2) end to end through
the local runtime: the critical function's alarm evaluated from its Errors metric, or a
manual start; deployments InProgress stopped with rollback, the non-critical flags of
config/critical_failure.json turned off (a critical one left on), every critical function
health-checked, the findings paged on the ons-data-platform policy, and exactly the undo
manifest restored at the human gate."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import pytest
from botocore.exceptions import ClientError
from selfheal_shared.core import clients, guards
from selfheal_shared.deploy import critical

from local.runtime import Pipeline
from local.worlds import World, WorldSpec
from local.worlds.deploy import CriticalPlatform
from tests.helpers import spec_for

CFG = critical.config()
CD_APP = CFG.codedeployApplications[0]
FAILING = "lambda_router"


@pytest.fixture
def empty_world(world_spec: WorldSpec) -> WorldSpec:
    world_spec.services, world_spec.apis, world_spec.compositeAlarms = [], [], []
    return world_spec


@pytest.fixture
def make(empty_world: WorldSpec) -> Iterator[Any]:
    started: list[Pipeline] = []

    def build(**kwargs: Any) -> tuple[Pipeline, CriticalPlatform]:
        kwargs.setdefault(
            "alarm_instances", {"critical-function-errors": [{"FunctionName": FAILING}]}
        )
        p = Pipeline(world=World(empty_world), spec=spec_for(["critical_failure"]), **kwargs)
        p.__enter__()
        started.append(p)
        return p, CriticalPlatform(p)

    yield build
    for p in reversed(started):
        p.__exit__(None, None, None)


def alarm_fires(p: Pipeline, w: CriticalPlatform) -> str:
    """lambda_router fails 40 times a minute, three minutes in a row: the alarm created from
    events/alarms/critical-function-errors.json evaluates the datapoints and goes to ALARM."""
    w.errors({FAILING: 40.0})
    p.clock.listeners.append(lambda now=None: w.errors({FAILING: 40.0}))
    for _ in range(4):
        if p.started:
            break
        p.clock.advance(60)
    [arn] = p.started
    return arn


@contextmanager
def on_call(operation: str, act: Callable[[Any, str], None]) -> Iterator[None]:
    """`act(request, event_name)` before each call of `operation` the functions make: a
    fault, or the world changing at that moment."""

    def watch(made: Any) -> None:
        def before(request: Any, event_name: str, **_: Any) -> Any:
            return act(request, event_name) if event_name.endswith("." + operation) else None

        made.meta.events.register_first("before-send", before)

    clients.observers.append(watch)
    clients.reset()
    try:
        yield
    finally:
        clients.observers.remove(watch)
        clients.reset()


def outcomes(p: Pipeline, arn: str) -> dict[str, str]:
    return {a["name"]: a["outcome"] for a in p.execution_summary(arn)["actions"]}


def steps(p: Pipeline, arn: str) -> dict[str, str]:
    """The last result recorded for each action of the incident (the audit trail)."""
    return {r["action"]: r["result"] for r in p.audit_records(arn)}


@pytest.mark.procedure("D2", "trigger: alarm on a critical function (evaluated from its Errors)")
@pytest.mark.procedure("D2", "stop in-progress deployments")
@pytest.mark.procedure("D2", "disable non-critical feature flags")
@pytest.mark.procedure("D2", "health check every function")
@pytest.mark.procedure("D2", "page the findings on the escalation policy")
def test_the_alarm_stops_deployments_turns_off_non_critical_flags_and_pages(make: Any) -> None:
    p, w = make()
    arn = alarm_fires(p, w)
    parked = p.wait([arn], until_parked=True)
    assert parked == [arn], json.dumps(p.execution_summary(arn), default=str)[:3000]

    assert w.status(w.deployments["InProgress"]) == "Stopped"
    assert w.status(w.deployments["Succeeded"]) == "Succeeded", "a finished one is left alone"
    assert p.extensions.codedeploy_stops == [
        {"deploymentId": w.deployments["InProgress"], "autoRollbackEnabled": True}
    ]
    assert w.flags() == {
        "enable_new_api_endpoint": False,
        "enable_enhanced_processing": False,
        "billing": True,
    }, "a flag the configuration does not list as non-critical stays on"
    done = steps(p, arn)
    assert done["health_check"] == (
        "4 of 5 critical functions healthy; UNHEALTHY: lambda_router: 40 errors in a minute "
        "in the last 5 min (threshold 5)"
    )
    [page] = [n for n in p.notifications() if "ESCALATION" in n["subject"]]
    reason = page["message"]["reason"]
    assert "alarm lambda_router-critical in ALARM" in reason
    assert "stopped 1 of 1 deployment(s) InProgress" in reason
    assert "disabled enable_new_api_endpoint, enable_enhanced_processing" in reason
    assert "UNHEALTHY: lambda_router" in reason
    assert "paged l1 (ons-data-platform policy" in done["escalate"]
    assert [n["level"] for n in p.notifications() if n["level"] != "l1"] == [], "only L1 at 0"
    manifest = json.loads(
        next(r for r in p.audit_records() if r["action"] == "critical_manifest")["details"]
    )
    assert manifest["deploymentsStopped"] == [f"{CD_APP}/router-live/{w.deployments['InProgress']}"]
    assert manifest["flagsTurnedOff"] == ["enable_new_api_endpoint", "enable_enhanced_processing"]


@pytest.mark.procedure("D2", "undo manifest restored exactly, only through the human gate")
def test_the_gate_restores_exactly_what_was_turned_off(make: Any) -> None:
    p, w = make()
    held = p.clock.held()  # the person answers at 12 min, before the ladder's L2 at 30
    held.__enter__()
    arn = alarm_fires(p, w)
    p.wait([arn], until_parked=True)
    # Someone turns the critical flag off by hand meanwhile: the restore must not touch it.
    w.deploy_flags(
        {"enable_new_api_endpoint": False, "enable_enhanced_processing": False, "billing": False}
    )
    p.clock.advance(12 * 60)
    p.decide(arn, "resume", "ana", "root cause fixed in lambda_router")
    p.wait([arn])
    held.__exit__(None, None, None)
    run = p.execution_summary(arn)

    assert run["status"] == "SUCCEEDED", run
    assert w.flags() == {
        "enable_new_api_endpoint": True,
        "enable_enhanced_processing": True,
        "billing": False,
    }, "exactly the two turned off come back; the one off by hand stays off"
    cd = p.client("codedeploy")
    group = cd.list_deployments(applicationName=w.codedeploy_app, deploymentGroupName="router-live")
    assert len(group["deployments"]) == 2, "the stopped revision was redeployed once"
    assert outcomes(p, arn)["restore"] == "FIXED"
    assert steps(p, arn)["restore_flags"].startswith(
        "enabled enable_new_api_endpoint, enable_enhanced_processing again"
    )
    assert "resolve sent to l1" in steps(p, arn)["resolve"]


@pytest.mark.procedure("D2", "gate: bad answer re-asked, reject keeps everything off")
def test_rejected_or_bad_answers_restore_nothing(make: Any) -> None:
    p, w = make()
    arn = alarm_fires(p, w)
    p.wait([arn], until_parked=True)
    incident = p.parked()[arn]
    ddb = p.client("dynamodb")
    [table] = [t for t in ddb.list_tables()["TableNames"] if "guard" in t]
    token = ddb.get_item(TableName=table, Key={"pk": {"S": f"gate#{incident}"}})["Item"]["token"]
    # As with the AWS CLI: an answer without a reason.
    p.client("stepfunctions").send_task_success(
        taskToken=token["S"], output=json.dumps({"decision": "resume", "operator": "x"})
    )
    assert p.clock.wait_until(lambda: "gate_answer_rejected" in steps(p, arn), 30)
    assert p.wait([arn], until_parked=True) == [arn], "asked again"
    assert w.flags()["enable_new_api_endpoint"] is False, "nothing restored"
    [rejection] = [r for r in p.audit_records(arn) if r["action"] == "gate_answer_rejected"]
    assert "reason" in rejection["why"], "the missing field is named"
    p.decide(arn, "keep_frozen", "ana", "still investigating")
    p.wait([arn])
    run = p.execution_summary(arn)
    assert run["status"] == "FAILED" and run["error"] == "selfheal.Escalated"
    assert w.flags()["enable_new_api_endpoint"] is False
    assert w.status(w.deployments["InProgress"]) == "Stopped"


@pytest.mark.procedure("D2", "manual trigger")
def test_manual_start_acts_the_same(make: Any) -> None:
    p, w = make()
    arn = p.start_manual(
        "critical_failure", {"reason": "API down for every customer", "requestedBy": "ana"}
    )
    assert p.wait([arn], until_parked=True) == [arn]
    assert w.status(w.deployments["InProgress"]) == "Stopped"
    assert w.flags()["enable_enhanced_processing"] is False and w.flags()["billing"] is True
    assert steps(p, arn)["health_check"] == "5 of 5 critical functions healthy"


@pytest.mark.procedure("D2", "bad manual input: rejected naming the field")
@pytest.mark.parametrize(
    ("payload", "field"),
    [({"requestedBy": "ana"}, "reason"), ({"reason": "down", "requestedBy": 7}, "requestedBy")],
)
def test_bad_manual_input_is_refused_naming_the_field(
    make: Any, payload: dict[str, Any], field: str
) -> None:
    p, w = make()
    arn = p.start_manual("critical_failure", payload)
    p.wait([arn])
    run = p.execution_summary(arn)
    assert run["status"] == "FAILED" and run["error"] == "selfheal.Failed"
    assert field in run["cause"]
    failed = next(r for r in p.audit_records(arn) if r.get("outcome") == "FAILED")
    assert "InputInvalid" in failed["why"] and field in failed["why"]
    assert w.status(w.deployments["InProgress"]) == "InProgress", "nothing stopped"
    assert w.flags()["enable_new_api_endpoint"] is True, "nothing turned off"
    assert {n["level"] for n in p.notifications()} == {"l1", "l2"}


@pytest.mark.procedure("D2", "guard refused (kill switch, dry run): nothing changed, page L1")
@pytest.mark.parametrize("guard", ["kill_switch", "dry_run"])
def test_a_guard_refusal_changes_nothing_and_pages(make: Any, guard: str) -> None:
    p, w = make()
    name = guards.KILL_SWITCH if guard == "kill_switch" else guards.DRY_RUN
    guards.set_switch(name, enabled=True, reason="incident review", actor="t")
    arn = alarm_fires(p, w)
    p.wait([arn])
    run = p.execution_summary(arn)

    assert run["status"] == "SUCCEEDED"
    assert outcomes(p, arn) == {"critical_failure": "SKIPPED_BY_GUARD", "escalate": "ESCALATED"}
    assert w.status(w.deployments["InProgress"]) == "InProgress"
    assert w.flags()["enable_new_api_endpoint"] is True
    assert p.extensions.codedeploy_stops == []
    [page] = [n for n in p.notifications() if n["level"] == "l1"]
    assert f"the {guard} guard refused" in page["message"]["reason"]
    if guard == "dry_run":
        skip = next(r for r in p.audit_records(arn) if r["action"] == "critical_failure")
        would = json.loads(skip["details"])["wouldDo"]
        assert would["flagsOn"] == ["enable_new_api_endpoint", "enable_enhanced_processing"]
        assert len(would["deployments"]) == 1


@pytest.mark.procedure(
    "D2", "stop in-progress deployments: a retried stop that landed is credited once"
)
def test_a_stop_whose_record_failed_is_still_on_the_manifest(make: Any) -> None:
    """StopDeployment lands and the write of its record fails: the retried step finds the
    deployment stopped by its own attempt, credits it once, and the manifest holds it."""
    p, w = make()
    lost: list[str] = []

    def lose(request: Any, _event: str) -> None:
        item = json.loads(request.body).get("Item", {})
        if not lost and item.get("action", {}).get("S") == "stop_deployment":
            lost.append(item["details"]["S"])
            raise ClientError(
                {"Error": {"Code": "ProvisionedThroughputExceededException", "Message": "x"}},
                "PutItem",
            )

    with on_call("PutItem", lose):
        arn = alarm_fires(p, w)
        assert p.wait([arn], until_parked=True) == [arn]
    assert lost, "the stop's record was written once and failed"
    dep = w.deployments["InProgress"]
    assert p.extensions.codedeploy_stops == [{"deploymentId": dep, "autoRollbackEnabled": True}]
    manifest = json.loads(
        next(r for r in p.audit_records() if r["action"] == "critical_manifest")["details"]
    )
    assert manifest["deploymentsStopped"] == [f"{CD_APP}/router-live/{dep}"]
    assert "stopped 1 of 1 deployment(s) InProgress" in steps(p, arn)["escalate"] or any(
        "stopped 1 of 1" in n["message"].get("reason", "")
        for n in p.notifications()
        if "ESCALATION" in n["subject"]
    )


@pytest.mark.procedure(
    "D2", "guard re-checked before each action: maintenance on system:ons-data-platform stops it"
)
def test_a_maintenance_window_on_the_system_opened_mid_run_stops_the_next_action(
    make: Any,
) -> None:
    """A maintenance window on system:ons-data-platform opened after the guards passed: the
    per-action re-check sees it, and the deployment is not stopped."""
    p, w = make()

    def maintenance(_request: Any, _event: str) -> None:
        now = p.clock.now()
        guards.set_maintenance(
            "system:ons-data-platform",
            starts=now - timedelta(minutes=1),
            ends=now + timedelta(hours=1),
            reason="planned platform work",
        )

    with on_call("GetDeployment", maintenance):
        arn = alarm_fires(p, w)
        p.wait([arn], until_parked=True)
    assert p.extensions.codedeploy_stops == []
    assert w.status(w.deployments["InProgress"]) == "InProgress"
    [skip] = [r for r in p.audit_records(arn) if r["action"] == "stop_deployment"]
    assert skip["outcome"] == "SKIPPED_BY_GUARD"
    assert "maintenance" in skip["why"]


@pytest.mark.procedure(
    "D2", "trigger: an alarm on a function not listed as critical refused, naming the field"
)
def test_an_alarm_on_a_function_not_listed_as_critical_is_refused(make: Any) -> None:
    p, w = make(alarm_instances={"critical-function-errors": [{"FunctionName": "billing_export"}]})
    put = p.client("cloudwatch").put_metric_data

    def errors(now: Any = None) -> None:
        put(
            Namespace="AWS/Lambda",
            MetricData=[
                {
                    "MetricName": "Errors",
                    "Dimensions": [{"Name": "FunctionName", "Value": "billing_export"}],
                    "Value": 40.0,
                    "Timestamp": p.clock.now(),
                }
            ],
        )

    errors()
    p.clock.listeners.append(errors)
    for _ in range(4):
        if p.started:
            break
        p.clock.advance(60)
    [arn] = p.started
    p.wait([arn])
    run = p.execution_summary(arn)
    assert run["status"] == "FAILED", run
    assert "FunctionName" in run["cause"] and "billing_export" in run["cause"]
    assert w.status(w.deployments["InProgress"]) == "InProgress", "nothing stopped"
    assert w.flags()["enable_new_api_endpoint"] is True, "nothing turned off"


@pytest.mark.procedure(
    "D2", "health check every function: one unreadable, reported, the others still checked"
)
def test_one_unreadable_function_does_not_abort_the_health_check(make: Any) -> None:
    p, w = make()

    def refuse(request: Any, _event: str) -> None:
        if "influxdb_loader" in request.url:
            raise ClientError(
                {"Error": {"Code": "AccessDeniedException", "Message": "not allowed"}},
                "GetFunctionConfiguration",
            )

    with on_call("GetFunctionConfiguration", refuse):
        arn = alarm_fires(p, w)
        assert p.wait([arn], until_parked=True) == [arn]
    health = steps(p, arn)["health_check"]
    assert "3 of 5 critical functions healthy" in health, health
    assert "influxdb_loader: could not check: " in health and "AccessDenied" in health
    assert "lambda_router: 40 errors" in health


@pytest.mark.procedure(
    "D2", "disable non-critical feature flags: in the environment found by its name, by id"
)
def test_the_flags_are_turned_off_in_the_environment_found_by_name(make: Any) -> None:
    """config/critical_failure.json names the environment ("production"); AppConfig takes
    its id, and the stand-in refuses a name as AWS does (`[a-z0-9]{4,7}`)."""
    p, w = make()
    assert w.environment != CFG.appconfig.environment
    with pytest.raises(ClientError, match="BadRequestException"):
        p.client("appconfig").list_deployments(
            ApplicationId=w.app, EnvironmentId=CFG.appconfig.environment
        )
    arn = alarm_fires(p, w)
    assert p.wait([arn], until_parked=True) == [arn]
    off = p.extensions.appconfig_deployments[-1]
    assert off["EnvironmentId"] == w.environment
    assert w.flags()["enable_new_api_endpoint"] is False


@pytest.mark.procedure(
    "D2", "disable non-critical feature flags: a configured environment missing, refused"
)
def test_a_missing_environment_is_refused_naming_the_field(make: Any) -> None:
    p, w = make()
    p.extensions.appconfig_environments[w.app].clear()  # the environment was never made
    arn = alarm_fires(p, w)
    p.wait([arn])
    run = p.execution_summary(arn)
    assert run["status"] == "FAILED", run
    assert "appconfig.environment" in run["cause"] and "production" in run["cause"]
    assert w.status(w.deployments["InProgress"]) == "InProgress", "nothing stopped"


@pytest.mark.procedure(
    "D2",
    "undo manifest restored exactly, only through the human gate: records say only what was done",
)
def test_the_records_say_only_what_was_done_and_verified(make: Any) -> None:
    """CodeDeploy reports no rollback for the stop here, and a redeployment is only started
    when the restore ends: neither "rolled back" nor "redeployed" is claimed, and the gate
    says what the manifest holds, not "contained"."""
    p, w = make()
    arn = alarm_fires(p, w)
    p.wait([arn], until_parked=True)
    dep = w.deployments["InProgress"]
    stop = steps(p, arn)["stop_deployment"]
    assert "rolled back" not in stop and "no rollback reported" in stop, stop
    subjects = [n["subject"] for n in p.notifications()]
    gates = [s for s in subjects if "restore decision" in s]
    assert len(gates) == 1, subjects
    gate = gates[0]
    assert "contained" not in gate
    assert gate.endswith(": 1 stopped, 2 flags off")
    p.decide(arn, "resume", "ana", "root cause fixed")
    p.wait([arn])
    redeploy = steps(p, arn)["redeploy"]
    assert redeploy.startswith(f"started a redeployment of the revision of {dep}"), redeploy
    assert "redeployment started for 1 of 1 stopped deployment(s)" in steps(p, arn)["restore"]
