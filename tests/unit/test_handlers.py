"""The Lambda handlers called in-process (the same handler strings the CDK deploys), one at a
time, against the local pipeline's moto world. The workflow tests cover them chained."""

from __future__ import annotations

import copy
import json
import sys
import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from botocore.exceptions import ClientError
from selfheal_cdk import spec as spec_mod
from selfheal_shared.core import appconfig_deploy, audit
from selfheal_shared.core.errors import ConcurrentChange, InputInvalid, Transient
from selfheal_shared.deploy import rollback

from local.lambda_adapter import LambdaContext, load_handler
from local.replay import rebase
from local.runtime import Pipeline
from local.worlds import WorldSpec
from local.worlds.deploy import CodeDeploySpec
from tests.helpers import FIVE_XX, load_event

EXECUTION = "arn:aws:states:us-east-1:123456789012:execution:selfheal-sm-rollback-on-5xx:run-1"
Invoke = Callable[[str, dict[str, Any]], dict[str, Any]]


@pytest.fixture
def alarm_event(pipeline: Pipeline) -> dict[str, Any]:
    """The sample 5xx alarm as EventBridge delivers it now (rebased to the virtual clock):
    the flags the world deployed at its start were deployed shortly before it."""
    return rebase(load_event(FIVE_XX), pipeline.clock.now())


@pytest.fixture
def invoke(pipeline: Pipeline) -> Invoke:
    def call(name: str, event: dict[str, Any]) -> dict[str, Any]:
        return call_in(pipeline, name, event)

    return call


def call_in(p: Pipeline, name: str, event: dict[str, Any]) -> dict[str, Any]:
    fn = p.spec.functions[name]
    context = LambdaContext(
        function_name=f"selfheal-fn-{name}",
        invoked_function_arn=f"arn:aws:lambda:us-east-1:123456789012:function:selfheal-fn-{name}",
        memory_limit_in_mb=fn.memory_mb,
        timeout_seconds=fn.timeout_seconds,
        aws_request_id=str(uuid.uuid4()),
    )
    result = load_handler(fn)(copy.deepcopy(event), context)
    json.dumps(result)  # what a Lambda returns must serialise
    return result  # type: ignore[no-any-return]


def history(incident_id: str) -> list[dict[str, Any]]:
    """The incident's records after the diagnosis `rollback_resolve` writes first."""
    return [r for r in audit.history(incident_id) if r["actor"] != "rollback_resolve"]


def resolve_request(event: dict[str, Any], execution: str = EXECUTION) -> dict[str, Any]:
    return {"event": event, "executionId": execution}


def live(p: Pipeline, function: str = "orders-api") -> str:
    return str(p.client("lambda").get_alias(FunctionName=function, Name="live")["FunctionVersion"])


def set_live(p: Pipeline, version: str, function: str = "orders-api") -> None:
    p.client("lambda").update_alias(FunctionName=function, Name="live", FunctionVersion=version)


def flag_document(p: Pipeline) -> tuple[int, dict[str, Any]]:
    ids = p.world.appconfig_ids["orders-api"]
    ac = p.client("appconfig")
    items = ac.list_hosted_configuration_versions(
        ApplicationId=ids["application"], ConfigurationProfileId=ids["profile"]
    )["Items"]
    latest = max(int(v["VersionNumber"]) for v in items)
    content = ac.get_hosted_configuration_version(
        ApplicationId=ids["application"],
        ConfigurationProfileId=ids["profile"],
        VersionNumber=latest,
    )["Content"].read()
    return latest, json.loads(content)


# -- rollback_resolve ---------------------------------------------------------------------------


def test_resolve_sample_alarm_into_an_incident(
    pipeline: Pipeline, invoke: Invoke, alarm_event: dict[str, Any]
) -> None:
    incident = invoke("rollback_resolve", resolve_request(alarm_event))

    ids = pipeline.world.appconfig_ids["orders-api"]
    assert incident["functionName"] == "orders-api"
    assert incident["alias"] == "live"
    assert incident["alarmName"] == "orders-api-errors"
    assert incident["executionId"] == EXECUTION
    assert incident["automation"] == rollback.AUTOMATION
    assert incident["detectedAt"] == alarm_event["detail"]["state"]["timestamp"]
    assert incident["incidentId"].startswith(f"{rollback.AUTOMATION}-")
    dep = incident["deployment"]
    assert (dep["kind"], dep["fromVersion"], dep["toVersion"]) == ("alias", "3", "2")
    assert incident["featureFlags"] == {
        "application": ids["application"],
        "environment": "prod",
        "profile": ids["profile"],
        "flags": ["new_checkout"],
        "strategy": "AppConfig.AllAtOnce",
    }


def test_resolve_is_stable_across_deliveries(invoke: Invoke, alarm_event: dict[str, Any]) -> None:
    again = copy.deepcopy(alarm_event)
    again["id"] = "second-delivery"

    first = invoke("rollback_resolve", resolve_request(alarm_event, EXECUTION))
    second = invoke("rollback_resolve", resolve_request(again, EXECUTION + "-dup"))

    assert first["incidentId"] == second["incidentId"]


def in_alarm(pipeline: Pipeline, name: str, **dimensions: str) -> None:
    """Put an alarm of the simulated world into ALARM (watching other dimensions if given)."""
    cw = pipeline.client("cloudwatch")
    if dimensions:
        alarm = cw.describe_alarms(AlarmNames=[name])["MetricAlarms"][0]
        keep = ("Namespace", "MetricName", "Statistic", "Period", "EvaluationPeriods")
        cw.put_metric_alarm(
            AlarmName=name,
            Dimensions=[{"Name": k, "Value": v} for k, v in dimensions.items()],
            Threshold=alarm["Threshold"],
            ComparisonOperator=alarm["ComparisonOperator"],
            **{k: alarm[k] for k in keep},
        )
    cw.set_alarm_state(AlarmName=name, StateValue="ALARM", StateReason="test")


def test_resolve_function_without_flags(
    pipeline: Pipeline, invoke: Invoke, alarm_event: dict[str, Any]
) -> None:
    event = copy.deepcopy(alarm_event)
    event["detail"]["alarmName"] = "billing-api-errors"
    event["detail"]["configuration"]["metrics"][0]["metricStat"]["metric"]["dimensions"] = {
        "FunctionName": "billing-api",
        "Resource": "billing-api:live",
    }
    in_alarm(pipeline, "billing-api-errors")

    incident = invoke("rollback_resolve", resolve_request(event))

    assert incident["functionName"] == "billing-api"
    assert incident["featureFlags"] is None
    dep = incident["deployment"]
    assert (dep["kind"], dep["fromVersion"], dep["toVersion"]) == ("alias", "2", "1")


def test_resolve_old_deployment_is_nothing_to_roll_back(
    pipeline: Pipeline, invoke: Invoke, alarm_event: dict[str, Any]
) -> None:
    pipeline.clock.advance(timedelta(hours=25).total_seconds())

    incident = invoke("rollback_resolve", resolve_request(alarm_event))

    assert incident["deployment"]["kind"] == "none"
    assert "in CloudTrail in the last 24 h" in incident["deployment"]["reason"]


def test_resolve_alias_missing_is_nothing_to_roll_back(
    pipeline: Pipeline, invoke: Invoke, alarm_event: dict[str, Any]
) -> None:
    event = copy.deepcopy(alarm_event)
    event["detail"]["configuration"]["metrics"][0]["metricStat"]["metric"]["dimensions"][
        "Resource"
    ] = "orders-api:canary"
    in_alarm(pipeline, "orders-api-errors", FunctionName="orders-api", Resource="orders-api:canary")

    incident = invoke("rollback_resolve", resolve_request(event))

    assert incident["alias"] == "canary"
    assert incident["deployment"]["kind"] == "none"
    assert "canary" in incident["deployment"]["reason"]


def _drop_alarm_name(e: dict[str, Any]) -> None:
    del e["detail"]["alarmName"]


def _drop_dimension(e: dict[str, Any]) -> None:
    del e["detail"]["configuration"]["metrics"][0]["metricStat"]["metric"]["dimensions"][
        "FunctionName"
    ]


def _detail_not_a_dict(e: dict[str, Any]) -> None:
    e["detail"] = "orders-api-errors"


def _state_ok(e: dict[str, Any]) -> None:
    e["detail"]["state"]["value"] = "OK"


def _unknown_function(e: dict[str, Any]) -> None:
    e["detail"]["configuration"]["metrics"][0]["metricStat"]["metric"]["dimensions"][
        "FunctionName"
    ] = "ghost-api"


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (_drop_alarm_name, "detail.alarmName"),
        (_drop_dimension, "FunctionName"),
        (_detail_not_a_dict, "detail"),
        (_state_ok, "detail.state.value"),
        (_unknown_function, "FunctionName"),
    ],
)
def test_resolve_bad_alarm_names_the_field(
    invoke: Invoke,
    alarm_event: dict[str, Any],
    mutate: Callable[[dict[str, Any]], None],
    field: str,
) -> None:
    event = copy.deepcopy(alarm_event)
    mutate(event)

    with pytest.raises(InputInvalid) as err:
        invoke("rollback_resolve", resolve_request(event))

    assert field in str(err.value)


def test_resolve_unknown_function_says_it_does_not_exist(
    invoke: Invoke, alarm_event: dict[str, Any]
) -> None:
    _unknown_function(alarm_event)

    with pytest.raises(InputInvalid, match="watches 'orders-api', not 'ghost-api'"):
        invoke("rollback_resolve", resolve_request(alarm_event))


@pytest.mark.parametrize(
    ("request_", "field"),
    [({"executionId": EXECUTION}, "event"), ({"event": {}, "executionId": ""}, "executionId")],
)
def test_resolve_bad_request_names_the_field(
    invoke: Invoke, request_: dict[str, Any], field: str
) -> None:
    with pytest.raises(InputInvalid, match=f"invalid resolve request: {field}"):
        invoke("rollback_resolve", request_)


# -- rollback_deployment ------------------------------------------------------------------------


@pytest.fixture
def incident(invoke: Invoke, alarm_event: dict[str, Any]) -> dict[str, Any]:
    return invoke("rollback_resolve", resolve_request(alarm_event))


def test_rollback_moves_the_alias_and_audits_the_inverse(
    pipeline: Pipeline, invoke: Invoke, incident: dict[str, Any]
) -> None:
    result = invoke("rollback_deployment", incident)

    assert result == {"action": "rollback_alias", "changed": True, "result": "alias live: 3 -> 2"}
    assert live(pipeline) == "2"
    [intent, row] = history(incident["incidentId"])
    assert intent["action"] == "rollback_alias_intent", "the intent is written before acting"
    assert row["action"] == "rollback_alias"
    assert row["execution"] == EXECUTION
    assert row["inverse"] == {
        "api": "lambda:UpdateAlias",
        "FunctionName": "orders-api",
        "Name": "live",
        "FunctionVersion": "3",
    }


def test_rollback_is_idempotent_on_the_incident(
    pipeline: Pipeline, invoke: Invoke, incident: dict[str, Any]
) -> None:
    first = invoke("rollback_deployment", incident)
    set_live(pipeline, "1")  # someone acts after us: a replay must not touch the alias

    second = invoke("rollback_deployment", incident)

    assert second == first
    assert live(pipeline) == "1"
    assert [r["action"] for r in history(incident["incidentId"])] == [
        "rollback_alias_intent",
        "rollback_alias",
    ]


def test_rollback_refuses_to_overwrite_someone_elses_change(
    pipeline: Pipeline, invoke: Invoke, incident: dict[str, Any]
) -> None:
    set_live(pipeline, "1")

    with pytest.raises(ConcurrentChange, match="moved to 1"):
        invoke("rollback_deployment", incident)

    assert live(pipeline) == "1"
    assert history(incident["incidentId"]) == []


def test_rollback_after_a_refusal_is_not_poisoned_by_idempotency(
    pipeline: Pipeline, invoke: Invoke, incident: dict[str, Any]
) -> None:
    set_live(pipeline, "1")
    with pytest.raises(ConcurrentChange):
        invoke("rollback_deployment", incident)
    set_live(pipeline, "3")  # the other change was reverted; the retry may act

    result = invoke("rollback_deployment", incident)

    assert result["changed"] is True
    assert live(pipeline) == "2"


def test_rollback_already_on_target_is_a_no_op(
    pipeline: Pipeline, invoke: Invoke, incident: dict[str, Any]
) -> None:
    set_live(pipeline, "2")

    result = invoke("rollback_deployment", incident)

    assert result["changed"] is False
    assert "already on version 2" in result["result"]
    assert live(pipeline) == "2"
    assert history(incident["incidentId"]) == []


def test_rollback_with_nothing_to_roll_back_is_invalid(
    invoke: Invoke, incident: dict[str, Any]
) -> None:
    incident["deployment"] = {"kind": "none", "reason": "old"}

    with pytest.raises(InputInvalid, match=r"deployment\.kind"):
        invoke("rollback_deployment", incident)


def test_rollback_stops_a_running_codedeploy_deployment(
    make_pipeline: Any, world_spec: WorldSpec
) -> None:
    world_spec.services[0].codedeploy = CodeDeploySpec(application="orders", group="orders-live")
    p = make_pipeline(world_spec=world_spec)
    dep_id = p.world.codedeploy_ids["orders-api"]
    alarm_event = rebase(load_event(FIVE_XX), p.clock.now())

    incident = call_in(p, "rollback_resolve", resolve_request(alarm_event))
    assert incident["deployment"]["kind"] == "codedeploy"
    assert incident["deployment"]["deploymentId"] == dep_id
    result = call_in(p, "rollback_deployment", incident)

    assert result["action"] == "stop_codedeploy"
    assert result["changed"] is True
    status = p.client("codedeploy").get_deployment(deploymentId=dep_id)["deploymentInfo"]
    assert status["status"] == "Stopped"
    assert live(p) == "3", "CodeDeploy rolls back itself; the alias is not touched"
    assert call_in(p, "rollback_deployment", incident) == result


# -- rollback_disable_flags --------------------------------------------------------------------


def test_disable_flags_writes_a_new_version_and_deploys_it(
    pipeline: Pipeline, invoke: Invoke, incident: dict[str, Any]
) -> None:
    before, _ = flag_document(pipeline)

    result = invoke("rollback_disable_flags", incident)

    assert result["changed"] is True and result["flags"] == ["new_checkout"]
    version, doc = flag_document(pipeline)
    assert version == before + 1
    assert doc["values"]["new_checkout"]["enabled"] is False
    assert doc["values"]["dark_mode"]["enabled"] is True, "only the implicated flag"
    ids = pipeline.world.appconfig_ids["orders-api"]
    deployment = pipeline.extensions.appconfig_deployments[-1]
    assert deployment["ConfigurationVersion"] == str(version)
    assert deployment["ApplicationId"] == ids["application"]
    assert deployment["ConfigurationProfileId"] == ids["profile"]
    assert deployment["EnvironmentId"] == "prod"
    intent, row = history(incident["incidentId"])
    assert intent["action"] == "disable_flags_intent", "the intent is written before acting"
    assert row["action"] == "disable_flags"
    assert row["inverse"]["ConfigurationVersion"] == str(before)


def test_disable_flags_second_time_is_a_no_op(
    pipeline: Pipeline, invoke: Invoke, incident: dict[str, Any]
) -> None:
    invoke("rollback_disable_flags", incident)
    version, _ = flag_document(pipeline)

    again = invoke("rollback_disable_flags", incident)

    assert again["changed"] is False and again["flags"] == []
    assert "already off" in again["result"]
    assert flag_document(pipeline)[0] == version
    assert len(pipeline.extensions.appconfig_deployments) == 2  # the seeded one and ours
    actions = [r["action"] for r in history(incident["incidentId"])]
    assert actions == ["disable_flags_intent", "disable_flags"], "the no-op records nothing"


class _DeployFails:
    """An AppConfig client whose StartDeployment is throttled; everything else is real."""

    def __init__(self, real: Any) -> None:
        self._real = real

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)

    def start_deployment(self, **kwargs: Any) -> Any:
        raise ClientError(
            {"Error": {"Code": "ThrottlingException", "Message": "Rate exceeded"}},
            "StartDeployment",
        )


def test_disable_flags_deploys_after_an_earlier_attempt_failed_to(
    pipeline: Pipeline,
    invoke: Invoke,
    incident: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The first attempt writes the flags-off version but cannot deploy it. A later attempt
    (a retry, a rerun, the next incident) must still get the flag off in the environment,
    not conclude "already off" from an undeployed hosted version."""
    module = sys.modules[load_handler(pipeline.spec.functions["rollback_disable_flags"]).__module__]
    real_client = module.client

    def throttled(service: str, **kwargs: Any) -> Any:
        made = real_client(service, **kwargs)
        return _DeployFails(made) if service == "appconfig" else made

    with monkeypatch.context() as m:
        for holder in (module, appconfig_deploy):
            m.setattr(holder, "client", throttled)
        with pytest.raises(Transient):
            invoke("rollback_disable_flags", incident)
    assert (
        len(pipeline.extensions.appconfig_deployments) == 1
    )  # only the seeded one  # the flag is still on in prod

    invoke("rollback_disable_flags", incident)

    deployed = pipeline.extensions.appconfig_deployments
    assert deployed, "the flag was never deployed off, yet the action reported nothing to do"
    version, doc = flag_document(pipeline)
    assert deployed[-1]["ConfigurationVersion"] == str(version)
    assert doc["values"]["new_checkout"]["enabled"] is False


def test_disable_flags_without_implicated_flags(
    pipeline: Pipeline, invoke: Invoke, incident: dict[str, Any]
) -> None:
    incident["featureFlags"] = None

    result = invoke("rollback_disable_flags", incident)

    assert result["changed"] is False
    assert result["result"] == "no flags implicated"
    assert len(pipeline.extensions.appconfig_deployments) == 1  # only the seeded one


def test_disable_flags_rejects_a_malformed_incident(
    invoke: Invoke, incident: dict[str, Any]
) -> None:
    del incident["functionName"]

    with pytest.raises(InputInvalid, match="functionName"):
        invoke("rollback_disable_flags", incident)


# -- rollback_check_alarm -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("state", "attempt", "max_attempts", "recovered", "exhausted"),
    [
        ("ALARM", 0, 3, False, False),
        ("ALARM", 2, 3, False, True),
        ("ALARM", 5, 3, False, True),
        ("OK", 0, 3, True, False),
        ("OK", 2, 3, True, False),  # recovered on the last attempt is not exhausted
        ("INSUFFICIENT_DATA", 0, 1, False, True),
    ],
)
def test_rollback_check_alarm(
    pipeline: Pipeline,
    invoke: Invoke,
    state: str,
    attempt: int,
    max_attempts: int,
    recovered: bool,
    exhausted: bool,
) -> None:
    pipeline.client("cloudwatch").set_alarm_state(
        AlarmName="orders-api-errors", StateValue=state, StateReason="test"
    )

    result = invoke(
        "rollback_check_alarm",
        {"alarmName": "orders-api-errors", "attempt": attempt, "maxAttempts": max_attempts},
    )

    assert result == {
        "alarmName": "orders-api-errors",
        "state": state,
        "recovered": recovered,
        "attempt": attempt + 1,
        "maxAttempts": max_attempts,
        "exhausted": exhausted,
    }


@pytest.mark.parametrize(
    ("event", "field"),
    [
        ({"alarmName": "no-such-alarm", "maxAttempts": 3}, "alarmName"),
        ({"alarmName": "", "maxAttempts": 3}, "alarmName"),
        ({"alarmName": "orders-api-errors", "maxAttempts": 0}, "maxAttempts"),
        ({"alarmName": "orders-api-errors"}, "maxAttempts"),
        ({"alarmName": "orders-api-errors", "maxAttempts": 3, "attempt": -1}, "attempt"),
    ],
)
def test_rollback_check_alarm_bad_request_names_the_field(
    invoke: Invoke, event: dict[str, Any], field: str
) -> None:
    with pytest.raises(InputInvalid, match=field):
        invoke("rollback_check_alarm", event)


# -- escalate -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def describe_error() -> Callable[[dict[str, Any] | None], str]:
    """The pure helper of the escalate handler; loading its module needs no AWS."""
    handler = load_handler(spec_mod.load().functions["escalate"])
    return sys.modules[handler.__module__].describe_error  # type: ignore[no-any-return]


def escalation(outcome: str, **extra: Any) -> dict[str, Any]:
    return {
        "automation": rollback.AUTOMATION,
        "outcome": outcome,
        "executionId": EXECUTION,
        **extra,
    }


@pytest.mark.parametrize(("outcome", "levels"), [("NOT_FIXED", ["l1"]), ("FAILED", ["l1", "l2"])])
def test_escalate_pages_the_levels_and_audits(
    pipeline: Pipeline,
    invoke: Invoke,
    incident: dict[str, Any],
    outcome: str,
    levels: list[str],
) -> None:
    result = invoke(
        "escalate", escalation(outcome, reason="alarm still in ALARM", state={"incident": incident})
    )

    assert result["levels"] == levels
    assert result["incidentId"] == incident["incidentId"]
    sent = pipeline.notifications()
    assert [n["level"] for n in sent] == levels
    for n in sent:
        assert n["message"]["incidentId"] == incident["incidentId"]
        assert n["message"]["outcome"] == outcome
        assert n["message"]["reason"] == "alarm still in ALARM"
        assert outcome in n["subject"]
    rows = history(incident["incidentId"])
    assert [(r["action"], r.get("outcome")) for r in rows] == [
        (rollback.AUTOMATION, outcome),
        ("escalate", "ESCALATED"),
    ]
    assert rows[-1]["execution"] == EXECUTION
    assert rows[-1]["result"] == f"paged {', '.join(levels)}"


def test_escalate_with_only_a_caught_error(pipeline: Pipeline, invoke: Invoke) -> None:
    cause = {
        "errorType": "InputInvalid",
        "errorMessage": "invalid alarm: detail.alarmName: Field required",
        "stackTrace": ["..."],
    }
    error = {"Error": "InputInvalid", "Cause": json.dumps(cause)}

    result = invoke("escalate", escalation("FAILED", state={"error": error}))

    expected_id = f"{rollback.AUTOMATION}-run-1"
    assert result["incidentId"] == expected_id
    assert result["reason"] == "InputInvalid: invalid alarm: detail.alarmName: Field required"
    assert [n["level"] for n in pipeline.notifications()] == ["l1", "l2"]
    assert history(expected_id)[-1]["outcome"] == "ESCALATED"


def test_escalate_to_explicit_levels(pipeline: Pipeline, invoke: Invoke) -> None:
    result = invoke("escalate", escalation("ESCALATED", levels=["l3"]))

    assert result["levels"] == ["l3"]
    assert result["reason"] == "no reason given"
    assert [n["level"] for n in pipeline.notifications()] == ["l3"]
    rows = history(result["incidentId"])
    assert [r["outcome"] for r in rows] == ["ESCALATED"]


def test_escalate_rejects_an_unknown_outcome(invoke: Invoke) -> None:
    with pytest.raises(InputInvalid, match="outcome"):
        invoke("escalate", escalation("SUCCESS"))


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (
            {
                "Error": "ConcurrentChange",
                "Cause": json.dumps(
                    {
                        "errorType": "ConcurrentChange",
                        "errorMessage": "alias moved",
                        "stackTrace": [],
                    }
                ),
            },
            "ConcurrentChange: alias moved",
        ),
        (
            {"Error": "States.Timeout", "Cause": "Task timed out after 60 s"},
            "States.Timeout: Task timed out after 60 s",
        ),
        (
            {"Error": "States.TaskFailed", "Cause": json.dumps({"other": 1})},
            'States.TaskFailed: {"other": 1}',
        ),
        ({"Error": "States.TaskFailed", "Cause": "[1, 2]"}, "States.TaskFailed: [1, 2]"),
        ({"Error": "States.Runtime"}, "States.Runtime"),
        ({"Cause": "boom"}, "Error: boom"),
        ({}, ""),
        (None, ""),
    ],
)
def test_describe_error(
    describe_error: Callable[[dict[str, Any] | None], str],
    error: dict[str, Any] | None,
    expected: str,
) -> None:
    assert describe_error(error) == expected


def test_rollback_completes_its_audit_after_a_crash_between_act_and_record(
    pipeline: Pipeline, invoke: Invoke, incident: dict[str, Any]
) -> None:
    """The alias moved, then the Lambda died before the audit record: the retry asks the
    world (the alias is on the target), writes the record and moves nothing again."""
    from selfheal_shared.core import audit as shared_audit
    from selfheal_shared.core import effects

    shared_audit.record(
        incident_id=incident["incidentId"],
        execution=incident["executionId"],
        action="rollback_alias_intent",
        actor="test",
        why="crash simulation",
        result="moving",
        details={
            "target": "orders-api",
            "key": effects.key(incident["incidentId"], "rollback_alias", "orders-api"),
        },
    )
    pipeline.client("lambda").update_alias(
        FunctionName="orders-api", Name="live", FunctionVersion="2"
    )

    result = invoke("rollback_deployment", {**incident, "incidentId": incident["incidentId"]})

    assert result["changed"] is True
    records = history(incident["incidentId"])
    assert [r["action"] for r in records] == ["rollback_alias_intent", "rollback_alias"]
    assert "reconciled" in records[-1]["details"]


def test_alias_moved_back_by_someone_else_is_not_claimed(
    pipeline: Pipeline, invoke: Invoke, incident: dict[str, Any]
) -> None:
    pipeline.client("lambda").update_alias(
        FunctionName="orders-api", Name="live", FunctionVersion="2"
    )
    result = invoke("rollback_deployment", incident)
    assert result["changed"] is False
    assert history(incident["incidentId"]) == []
