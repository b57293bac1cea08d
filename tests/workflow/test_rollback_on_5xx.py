"""rollback_on_5xx end to end through the local runtime: real rule, real ASL, moto."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from local.runtime import Pipeline
from local.world import CodeDeploySpec, WorldSpec


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


def test_rollback_happens_and_is_verified(pipeline: Pipeline, alarm_event: dict) -> None:
    [run] = pipeline.run_event(alarm_event)

    assert run["status"] == "SUCCEEDED"
    assert live(pipeline) == "2"
    assert not flag_enabled(pipeline, "new_checkout")
    assert flag_enabled(pipeline, "dark_mode"), "only the implicated flag is turned off"
    assert outcomes(run) == {"rollback_alias": "FIXED", "disable_flags": "FIXED"}
    assert run["states"][-3:] == ["Recovered", "NotifyFixed", "Fixed"]
    [record] = rollbacks(pipeline)
    assert json.loads(record["inverse"]) == {
        "api": "lambda:UpdateAlias",
        "FunctionName": "orders-api",
        "Name": "live",
        "FunctionVersion": "3",
    }
    levels = [n["level"] for n in pipeline.notifications()]
    assert levels == ["ops"], "a fixed incident informs ops and pages nobody"
    assert pipeline.extensions.appconfig_deployments[-1]["ConfigurationVersion"] == "2"


def test_not_recovered_escalates_and_never_reports_success(
    make_pipeline: Any, world_spec: WorldSpec, alarm_event: dict
) -> None:
    world_spec.services[0].healthyVersions = ["1"]  # the previous version is bad too
    p = make_pipeline(world_spec=world_spec)
    [run] = p.run_event(alarm_event)

    assert run["status"] == "FAILED"
    assert run["error"] == "selfheal.NotFixed"
    assert live(p) == "2", "the rollback itself happened"
    assert outcomes(run) == {"rollback_on_5xx": "NOT_FIXED", "escalate": "ESCALATED"}
    assert run["states"].count("CheckAlarm") == 10, "bounded verification: 10 checks"
    pages = [n for n in p.notifications() if n["level"] == "l1"]
    assert pages and "still ALARM" in pages[0]["message"]["reason"]
    # Ten minutes of checks ran in virtual time.
    assert (p.clock.now() - p.journal[0].at).total_seconds() == pytest.approx(600)


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
    assert outcomes(run) == {"rollback_on_5xx": "SKIPPED_BY_GUARD"}
    assert live(pipeline) == "4", "the guard left the alias alone"
    assert len(rollbacks(pipeline)) == 1
    skip = next(r for r in pipeline.audit_records(arn) if r.get("outcome") == "SKIPPED_BY_GUARD")
    assert "30 min" in skip["why"]


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
    assert outcomes(run) == {"rollback_on_5xx": "SKIPPED_BY_GUARD"}
    assert live(p) == "3" and flag_enabled(p, "new_checkout")
    [skip] = p.audit_records(run["executionArn"])
    details = json.loads(skip["details"])
    assert details["guard"] == "dry_run"
    assert details["wouldDo"] == {
        "kind": "alias",
        "fromVersion": "3",
        "toVersion": "2",
        "deploymentId": None,
        "reason": details["wouldDo"]["reason"],
    }


def test_kill_switch_changes_nothing(pipeline: Pipeline, alarm_event: dict) -> None:
    from selfheal_shared import guards

    guards.set_switch(guards.KILL_SWITCH, enabled=True, reason="incident review", actor="test")
    [run] = pipeline.run_event(alarm_event)

    assert outcomes(run) == {"rollback_on_5xx": "SKIPPED_BY_GUARD"}
    assert live(pipeline) == "3" and flag_enabled(pipeline, "new_checkout")
    assert "kill switch" in pipeline.audit_records(run["executionArn"])[0]["why"]


def test_duplicate_event_rolls_back_once(pipeline: Pipeline, alarm_event: dict) -> None:
    duplicate = copy.deepcopy(alarm_event)
    duplicate["id"] = "another-delivery-of-the-same-transition"
    arns = pipeline.put_event(alarm_event) + pipeline.put_event(duplicate)
    pipeline.wait(arns)
    runs = [pipeline.execution_summary(a) for a in arns]

    assert len(rollbacks(pipeline)) == 1
    assert live(pipeline) == "2"
    first, second = sorted(runs, key=lambda r: len(r["states"]), reverse=True)
    assert sorted(outcomes(first).values()) == ["FIXED", "FIXED"]
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
