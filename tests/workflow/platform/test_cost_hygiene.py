"""cost_hygiene end to end (runbook 001 "Gestão de Custos", catalog row D6): the weekly
schedule fires the real ASL on moto, the functions run under their own roles, and the
account's state after the run is what is checked.

The world: lambda_router has 8 published versions, version 2 behind its `live` alias and
version 1 the current of an unfinished CodeDeploy deployment (target 8);
structured_data_processor has 8, `live` on 8. The configuration keeps the last 5
(config/cost_hygiene.json), so lambda_router loses only 3 and structured_data_processor
1, 2 and 3. One log group has no retention, one 90 days, one 7; the raw bucket already
has a rule of its own (`expire-tmp`)."""

from __future__ import annotations

import contextvars
import json
import sys
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from botocore.exceptions import ClientError
from selfheal_cdk import spec as spec_mod

from local.runtime import Pipeline
from local.schedules import fire, scheduler_input
from local.worlds import World
from local.worlds.deploy import lambda_zip
from local.worlds.platform import CostWorld, Deployment, ProjectFunction, seed, state
from tests.helpers import spec_for

TZ = ZoneInfo("America/Sao_Paulo")
#: A Sunday 05:00 in Brasília: the schedule's own slot.
SLOT = datetime(2027, 1, 10, 5, 0, tzinfo=TZ)
RAW = "ons-data-platform-raw-prod"
EXPIRE_TMP = {
    "ID": "expire-tmp",
    "Status": "Enabled",
    "Filter": {"Prefix": "tmp/"},
    "Expiration": {"Days": 7},
}
WORLD = CostWorld(
    functions=[
        ProjectFunction(
            function="lambda_router",
            versions=8,
            aliases={"live": "2"},
            deployment=Deployment(
                application="ons-platform",
                group="lambda_router",
                alias="beta",
                current="1",
                target="8",
            ),
        ),
        ProjectFunction(function="structured_data_processor", versions=8, aliases={"live": "8"}),
        ProjectFunction(function="rag_query_processor", versions=2),
        ProjectFunction(function="influxdb_loader", versions=1),
    ],
    logGroups={
        "/aws/lambda/lambda_router": None,
        "/aws/lambda/structured_data_processor": 90,
        "/aws/lambda/influxdb_loader": 7,
    },
    rawBucket=RAW,
    rawRules=[EXPIRE_TMP],
)
ALL = [str(n) for n in range(1, 9)]


@pytest.fixture(scope="module")
def cost_spec() -> spec_mod.Spec:
    return spec_for(["cost_hygiene"])


def start(cost_spec: spec_mod.Spec, *, dry_run: bool = False, world: CostWorld = WORLD) -> Pipeline:
    base = World.load().spec.model_copy(deep=True)
    base.services, base.ingestion, base.edgeSites, base.apis = [], [], [], []
    base.compositeAlarms, base.fiscal, base.forecasting = [], None, None
    p = Pipeline(world=World(base), spec=cost_spec, dry_run=dry_run)
    p.__enter__()
    seed(p, world)
    return p


@pytest.fixture
def pipeline(cost_spec: spec_mod.Spec) -> Iterator[Pipeline]:
    p = start(cost_spec)
    try:
        yield p
    finally:
        p.__exit__(None, None, None)


def weekly(p: Pipeline, at: datetime = SLOT) -> dict[str, Any]:
    arn = fire(p, "cost_hygiene_weekly", at)
    p.wait([arn], timeout=120)
    return p.execution_summary(arn)


def records(p: Pipeline, action: str) -> list[dict[str, Any]]:
    return [r for r in p.audit_records() if r["action"] == action]


def ops_reports(p: Pipeline) -> list[dict[str, Any]]:
    return [n for n in p.notifications() if n["level"] == "ops"]


@pytest.fixture(scope="module")
def done(cost_spec: spec_mod.Spec) -> dict[str, Any]:
    """The weekly run over the world, read out before the moto world closes."""
    p = start(cost_spec)
    try:
        before = state(p, WORLD)
        run = weekly(p)
        return {
            "before": before,
            "run": run,
            "after": state(p, WORLD),
            "deleted": records(p, "delete_lambda_version"),
            "reports": ops_reports(p),
            "pages": [n for n in p.notifications() if n["level"] != "ops"],
        }
    finally:
        p.__exit__(None, None, None)


@pytest.mark.procedure("D6", "keep the last N Lambda versions")
def test_the_weekly_schedule_keeps_the_last_five_versions_and_deletes_the_rest(
    done: dict[str, Any],
) -> None:
    assert done["before"]["versions"]["structured_data_processor"] == ALL
    assert done["run"]["status"] == "SUCCEEDED"
    assert done["after"]["versions"]["structured_data_processor"] == ["4", "5", "6", "7", "8"]
    assert done["after"]["versions"]["rag_query_processor"] == ["1", "2"]
    assert done["after"]["versions"]["influxdb_loader"] == ["1"]
    # Each deletion audited, with its verification, one record per version.
    audited = sorted(r["result"] for r in done["deleted"] if r["result"].startswith("deleted "))
    assert audited == [
        "deleted lambda_router:3 (verified gone)",
        "deleted structured_data_processor:1 (verified gone)",
        "deleted structured_data_processor:2 (verified gone)",
        "deleted structured_data_processor:3 (verified gone)",
    ]
    # The report to the operations level counts what was deleted and verified gone.
    [report] = done["reports"]
    assert report["message"]["outcome"] == "FIXED"
    counts = report["message"]["details"]["counts"]
    assert counts == {
        "versionsDeleted": 4,
        "logGroupsRetained": 1,
        "lifecycleRulesPut": 1,
        "failed": 0,
        "alreadyGone": 0,
        "left": 0,
    }
    assert "deleted 4 Lambda versions (verified gone)" in report["message"]["summary"]
    assert done["pages"] == [], "a run that did everything pages nobody"


@pytest.mark.procedure("D6", "never a version behind an alias or named by a CodeDeploy deployment")
def test_versions_behind_an_alias_or_a_deployment_are_never_deleted(done: dict[str, Any]) -> None:
    """lambda_router:2 (alias live) and :1 (the unfinished deployment's current) are older
    than the last five and stay; only :3 goes."""
    assert done["after"]["versions"]["lambda_router"] == ["1", "2", "4", "5", "6", "7", "8"]
    summary = done["reports"][0]["message"]["summary"]
    assert "lambda_router:2 (behind alias live)" in summary
    assert "lambda_router:1 (CodeDeploy deployment" in summary


@pytest.mark.procedure("D6", "30-day retention on log groups without one")
def test_log_groups_without_retention_get_30_days(done: dict[str, Any]) -> None:
    assert done["before"]["retention"]["/aws/lambda/lambda_router"] is None
    assert done["after"]["retention"]["/aws/lambda/lambda_router"] == 30
    assert all(days for days in done["after"]["retention"].values()), "none left forever"
    [report] = done["reports"]
    assert "/aws/lambda/lambda_router" in report["message"]["details"]["logGroups"]


@pytest.mark.procedure("D6", "an existing retention is never changed")
def test_an_existing_retention_is_never_shortened_or_lengthened(done: dict[str, Any]) -> None:
    assert done["after"]["retention"]["/aws/lambda/structured_data_processor"] == 90
    assert done["after"]["retention"]["/aws/lambda/influxdb_loader"] == 7
    [report] = done["reports"]
    assert "/aws/lambda/structured_data_processor" not in report["message"]["details"]["logGroups"]


@pytest.mark.procedure("D6", "the raw bucket's configured lifecycle rules merged into its own")
def test_the_raw_bucket_gets_the_configured_rules_and_keeps_its_own(done: dict[str, Any]) -> None:
    """Issue 24 item 4: lifecycle rules for the raw bucket as configured, merged."""
    rules = done["after"]["rules"]
    assert rules["expire-tmp"] == EXPIRE_TMP
    assert rules["selfheal-raw-tiering"]["Transitions"] == [
        {"Days": 30, "StorageClass": "STANDARD_IA"},
        {"Days": 90, "StorageClass": "GLACIER"},
    ]


@pytest.mark.procedure("D6", "dry run: the list, nothing deleted or changed")
def test_dry_run_sends_the_list_and_changes_nothing(cost_spec: spec_mod.Spec) -> None:
    p = start(cost_spec, dry_run=True)
    try:
        before = state(p, WORLD)
        run = weekly(p)
        assert run["status"] == "SUCCEEDED" and "EscalateGuarded" in run["states"]
        assert state(p, WORLD) == before
        [ticket] = ops_reports(p)
        reason = ticket["message"]["reason"]
        assert "the dry_run guard refused" in reason
        for item in (
            "delete lambda_router:3",
            "delete structured_data_processor:1",
            "set 30-day retention on /aws/lambda/lambda_router",
            f"put lifecycle rule selfheal-raw-tiering on {RAW}",
        ):
            assert item in reason
        assert "delete lambda_router:2" not in reason and "delete lambda_router:1" not in reason
        [guarded] = [r for r in p.audit_records() if r["action"] == "cost_hygiene"]
        assert guarded["outcome"] == "SKIPPED_BY_GUARD"
        assert not [
            r for r in records(p, "delete_lambda_version") if r["result"].startswith("deleted")
        ]
    finally:
        p.__exit__(None, None, None)


@pytest.mark.procedure("D6", "kill switch: nothing deleted or changed")
def test_kill_switch_changes_nothing_and_says_so(pipeline: Pipeline) -> None:
    from selfheal_shared.core import guards

    p = pipeline
    guards.set_switch(guards.KILL_SWITCH, enabled=True, reason="drill", actor="ana")
    before = state(p, WORLD)
    run = weekly(p)
    assert run["status"] == "SUCCEEDED" and "EscalateGuarded" in run["states"]
    assert state(p, WORLD) == before
    [ticket] = ops_reports(p)
    assert ticket["message"]["refusal"]["guard"] == "kill_switch"
    assert "delete structured_data_processor:3" in ticket["message"]["reason"]


@pytest.mark.procedure("D6", "a failed deletion escalates; the others are done and counted")
def test_a_denied_deletion_escalates_and_the_report_counts_only_what_was_done(
    pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    """DeleteFunction denied for structured_data_processor:2: the other deletions, the
    retention and the lifecycle still happen; the run escalates saying what failed, and
    counts three deletions, not four."""
    from selfheal_shared.core.clients import client as real_client

    p = pipeline

    class Denying:
        def __init__(self, inner: Any) -> None:
            self._inner = inner

        def delete_function(self, **kwargs: Any) -> Any:
            if kwargs == {"FunctionName": "structured_data_processor", "Qualifier": "2"}:
                raise ClientError(
                    {"Error": {"Code": "AccessDeniedException", "Message": "not authorized"}},
                    "DeleteFunction",
                )
            return self._inner.delete_function(**kwargs)

        def __getattr__(self, name: str) -> Any:
            return getattr(self._inner, name)

    module = sys.modules["selfheal_shared.platform.cost_hygiene_aws"]

    def patched(service: str, **kw: Any) -> Any:
        made = real_client(service, **kw)
        return Denying(made) if service == "lambda" else made

    monkeypatch.setattr(module, "client", patched)
    run = weekly(p)

    assert run["status"] == "FAILED" and run["error"] == "selfheal.NotFixed"
    after = state(p, WORLD)
    assert after["versions"]["structured_data_processor"] == ["2", "4", "5", "6", "7", "8"]
    assert after["versions"]["lambda_router"] == ["1", "2", "4", "5", "6", "7", "8"]
    assert after["retention"]["/aws/lambda/lambda_router"] == 30
    assert "selfheal-raw-tiering" in after["rules"]
    # Housekeeping is P4: a ticket to the operations level, nobody paged.
    assert [n for n in p.notifications() if n["level"] != "ops"] == []
    [ticket] = ops_reports(p)
    assert ticket["message"]["outcome"] == "NOT_FIXED", "no 'done' report for a failed change"
    reason = ticket["message"]["reason"]
    assert "1 changes failed or withheld: structured_data_processor:2" in reason
    assert "AccessDeniedException" in reason
    assert "deleted 3 Lambda versions (verified gone)" in reason
    [failed] = records(p, "cost_hygiene_failed")
    assert failed["outcome"] == "FAILED"


@pytest.mark.procedure("D6", "the next week finds nothing left to do and says so")
def test_the_next_week_changes_nothing_and_reports_no_action(pipeline: Pipeline) -> None:
    p = pipeline
    assert weekly(p)["status"] == "SUCCEEDED"
    after_first = state(p, WORLD)
    second = weekly(p, SLOT + timedelta(days=7))
    assert second["status"] == "SUCCEEDED" and "NotifyNothing" in second["states"]
    assert "Apply" not in second["states"] and "Guards" not in second["states"]
    assert state(p, WORLD) == after_first
    last = ops_reports(p)[-1]["message"]
    assert last["outcome"] == "NO_ACTION_NEEDED"
    assert last["summary"].startswith("0 Lambda versions to delete")
    assert "lambda_router:2 (behind alias live)" in last["summary"]


@pytest.mark.procedure("D6", "kill switch set mid-run: the next deletion is not done")
def test_a_kill_switch_set_during_the_run_stops_the_next_change(
    pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The guards are read again right before each change: the switch set by an operator
    after the first deletion stops the second; the ticket says what was done before."""
    from selfheal_shared.core import guards

    p = pipeline
    module = sys.modules["selfheal_shared.platform.cost_hygiene_aws"]
    real_delete = module.delete_version

    def delete_then_switch(function: str, version: str) -> bool:
        done: bool = real_delete(function, version)
        # The operator's write, not the function's (outside its role: a context of its own).
        contextvars.Context().run(
            guards.set_switch, guards.KILL_SWITCH, enabled=True, reason="stop it", actor="ana"
        )
        return done

    monkeypatch.setattr(module, "delete_version", delete_then_switch)
    run = weekly(p)

    assert run["status"] == "SUCCEEDED" and "EscalateRefused" in run["states"]
    after = state(p, WORLD)
    assert after["versions"]["lambda_router"] == ["1", "2", "4", "5", "6", "7", "8"]
    assert after["versions"]["structured_data_processor"] == ALL, "nothing after the switch"
    assert after["retention"]["/aws/lambda/lambda_router"] is None
    assert "selfheal-raw-tiering" not in after["rules"]
    [ticket] = ops_reports(p)
    assert ticket["message"]["refusal"]["guard"] == "kill_switch"
    reason = ticket["message"]["reason"]
    assert reason.startswith("stopped by the kill_switch guard")
    assert "deleted 1 Lambda versions (verified gone): lambda_router:3" in reason
    refused = [
        r for r in records(p, "delete_lambda_version") if r.get("outcome") == "SKIPPED_BY_GUARD"
    ]
    assert [r["result"] for r in refused] == [
        "not done (kill_switch): would delete structured_data_processor:1"
    ]


@pytest.mark.procedure("D6", "a deployment whose versions cannot be read: no version deleted")
def test_a_deployment_that_does_not_say_its_versions_keeps_every_version(
    cost_spec: spec_mod.Spec,
) -> None:
    """A deployment whose AppSpec is in S3 does not say, in GetDeployment, which versions it
    uses: nothing is deleted (never guessed), the rest is done, and people are told why."""
    world = WORLD.model_copy(deep=True)
    assert world.functions[0].deployment is not None
    world.functions[0].deployment.inS3 = True
    p = start(cost_spec, world=world)
    try:
        run = weekly(p)
        assert run["status"] == "FAILED" and run["error"] == "selfheal.NotFixed"
        after = state(p, world)
        assert after["versions"]["lambda_router"] == ALL
        assert after["versions"]["structured_data_processor"] == ALL
        assert after["retention"]["/aws/lambda/lambda_router"] == 30
        assert [n for n in p.notifications() if n["level"] != "ops"] == [], "P4: no page"
        [ticket] = ops_reports(p)
        reason = ticket["message"]["reason"]
        assert "no Lambda version deleted: a CodeDeploy deployment does not say" in reason
        assert "revision type S3 carries no AppSpec content" in reason
    finally:
        p.__exit__(None, None, None)


def test_the_local_lambda_refuses_to_delete_an_aliased_version_as_aws_does(
    pipeline: Pipeline,
) -> None:
    """The stand-in refuses what AWS refuses (moto would delete it): a version behind an
    alias cannot be deleted."""
    lam = pipeline.client("lambda")
    with pytest.raises(ClientError) as refused:
        lam.delete_function(FunctionName="lambda_router", Qualifier="2")
    assert refused.value.response["Error"]["Code"] == "ResourceConflictException"
    assert "2" in [
        v["Version"]
        for v in lam.list_versions_by_function(FunctionName="lambda_router")["Versions"]
    ]
    lam.delete_function(FunctionName="lambda_router", Qualifier="3")  # behind no alias


# --- review findings (D6 fixes) ---------------------------------------------------------


def pages(p: Pipeline) -> list[dict[str, Any]]:
    return [n for n in p.notifications() if n["level"] != "ops"]


def patch_clients(monkeypatch: pytest.MonkeyPatch, wrappers: dict[str, Any]) -> None:
    """cost_hygiene_aws's clients wrapped by `wrappers[service](inner)` (a fault injected)."""
    from selfheal_shared.core.clients import client as real_client

    module = sys.modules["selfheal_shared.platform.cost_hygiene_aws"]

    def patched(name: str, **kw: Any) -> Any:
        made = real_client(name, **kw)
        return wrappers[name](made) if name in wrappers else made

    monkeypatch.setattr(module, "client", patched)


def throttle(operation: str) -> ClientError:
    return ClientError(
        {
            "Error": {"Code": "TooManyRequestsException", "Message": "Rate exceeded"},
            "ResponseMetadata": {"HTTPStatusCode": 429},
        },
        operation,
    )


def configured(monkeypatch: pytest.MonkeyPatch, **changes: Any) -> None:
    """The cost hygiene configuration with `changes` (dotted paths) applied, for one test."""
    from selfheal_shared.platform import cost_hygiene as ch

    raw = ch.config().model_dump()
    for path, value in changes.items():
        *parents, last = path.split("__")
        node = raw
        for key in parents:
            node = node[key]
        node[last] = value
    cfg = ch.CostConfig.model_validate(raw)
    monkeypatch.setattr(ch, "config", lambda: cfg)


def start_with(p: Pipeline, extra: dict[str, Any], at: datetime = SLOT) -> dict[str, Any]:
    """The weekly schedule's own input, with `extra` fields, started by hand at `at`."""
    schedule = p.spec.schedules["cost_hygiene_weekly"]
    p.clock.advance_to(at.astimezone(ZoneInfo("UTC")))
    payload = scheduler_input(
        schedule, at, schedule_arn="arn:aws:scheduler:::schedule/manual", execution_id="m1"
    )
    arn = p.client("stepfunctions").start_execution(
        stateMachineArn=p.state_machines["cost_hygiene"],
        name=f"manual-{uuid.uuid4().hex[:12]}",
        input=json.dumps({**payload, **extra}),
    )["executionArn"]
    p.wait([arn], timeout=120)
    return p.execution_summary(arn)


@pytest.mark.procedure("D6", "a throttled change is retried; each change done and counted once")
def test_a_throttled_deletion_and_lifecycle_put_are_retried_and_nothing_is_done_twice(
    pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Review 1 and 7: a throttle (the delete has no SDK retries) retries the Apply step;
    what the first attempt did comes back from its records: the retention it set is counted
    as this run's, not 'kept (set since the plan)', and no deletion is repeated."""
    p = pipeline
    thrown: list[str] = []

    class Lam:
        def __init__(self, inner: Any) -> None:
            self._inner = inner

        def delete_function(self, **kw: Any) -> Any:
            if kw.get("Qualifier") == "2" and "delete" not in thrown:
                thrown.append("delete")
                raise throttle("DeleteFunction")
            return self._inner.delete_function(**kw)

        def __getattr__(self, name: str) -> Any:
            return getattr(self._inner, name)

    class S3:
        def __init__(self, inner: Any) -> None:
            self._inner = inner

        def put_bucket_lifecycle_configuration(self, **kw: Any) -> Any:
            if "put" not in thrown:
                thrown.append("put")
                raise throttle("PutBucketLifecycleConfiguration")
            return self._inner.put_bucket_lifecycle_configuration(**kw)

        def __getattr__(self, name: str) -> Any:
            return getattr(self._inner, name)

    patch_clients(monkeypatch, {"lambda": Lam, "s3": S3})
    run = weekly(p)

    assert thrown == ["delete", "put"], "both faults were met"
    assert run["status"] == "SUCCEEDED" and "NotifyDone" in run["states"]
    after = state(p, WORLD)
    assert after["versions"]["structured_data_processor"] == ["4", "5", "6", "7", "8"]
    assert after["retention"]["/aws/lambda/lambda_router"] == 30
    assert "selfheal-raw-tiering" in after["rules"]
    [report] = ops_reports(p)
    message = report["message"]
    assert message["outcome"] == "FIXED"
    assert message["details"]["counts"] == {
        "versionsDeleted": 4,
        "logGroupsRetained": 1,
        "lifecycleRulesPut": 1,
        "failed": 0,
        "alreadyGone": 0,
        "left": 0,
    }
    assert "set since the plan" not in message["summary"]
    deleted = [r["result"] for r in records(p, "delete_lambda_version")]
    assert sorted(r for r in deleted if r.startswith("deleted ")) == [
        "deleted lambda_router:3 (verified gone)",
        "deleted structured_data_processor:1 (verified gone)",
        "deleted structured_data_processor:2 (verified gone)",
        "deleted structured_data_processor:3 (verified gone)",
    ], "each deletion recorded once, none repeated"
    assert records(p, "cost_hygiene_failed") == []
    assert pages(p) == []


@pytest.mark.procedure("D6", "a run that fails escalates as a P4 ticket: nobody paged")
def test_a_plan_that_fails_is_a_ticket_to_operations_and_pages_nobody(
    pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Review 6: EscalateFailure passes P4 (housekeeping): the operations level gets a
    ticket, L1/L2 are not paged."""
    p = pipeline
    module = sys.modules["selfheal_shared.platform.cost_hygiene_aws"]

    def broken() -> list[dict[str, Any]]:
        raise RuntimeError("describe-log-groups broke")

    monkeypatch.setattr(module, "log_groups", broken)
    before = state(p, WORLD)
    run = weekly(p)
    assert run["status"] == "FAILED" and run["error"] == "selfheal.Failed"
    assert state(p, WORLD) == before
    assert pages(p) == []
    [ticket] = ops_reports(p)
    assert ticket["message"]["outcome"] == "FAILED"


@pytest.mark.procedure("D6", "a deployment's AppSpec in YAML is read: its versions kept")
def test_a_yaml_appspec_names_its_versions_and_the_run_goes_on(
    cost_spec: spec_mod.Spec,
) -> None:
    """Review 2: AppSpecContent in YAML (the common form) is read like JSON: lambda_router:1
    (the deployment's current) stays, the rest is deleted, nothing withheld."""
    world = WORLD.model_copy(deep=True)
    assert world.functions[0].deployment is not None
    world.functions[0].deployment.yamlSpec = True
    p = start(cost_spec, world=world)
    try:
        run = weekly(p)
        assert run["status"] == "SUCCEEDED" and "NotifyDone" in run["states"]
        after = state(p, world)
        assert after["versions"]["lambda_router"] == ["1", "2", "4", "5", "6", "7", "8"]
        assert after["versions"]["structured_data_processor"] == ["4", "5", "6", "7", "8"]
        [report] = ops_reports(p)
        assert "lambda_router:1 (CodeDeploy deployment" in report["message"]["summary"]
        assert pages(p) == []
    finally:
        p.__exit__(None, None, None)


@pytest.mark.procedure("D6", "an unreadable bucket is withheld; the rest of the plan is done")
def test_an_unreadable_bucket_is_withheld_and_the_rest_is_done(cost_spec: spec_mod.Spec) -> None:
    """Review 5: the configured raw bucket cannot be read (here: it does not exist): the
    versions and retentions are still done; the ticket says why no rule was put."""
    world = WORLD.model_copy(update={"rawBucket": "ons-data-platform-raw-other"})
    p = start(cost_spec, world=world)
    try:
        run = weekly(p)
        assert run["status"] == "FAILED" and run["error"] == "selfheal.NotFixed"
        after = state(p, world)
        assert after["versions"]["structured_data_processor"] == ["4", "5", "6", "7", "8"]
        assert after["retention"]["/aws/lambda/lambda_router"] == 30
        [ticket] = ops_reports(p)
        reason = ticket["message"]["reason"]
        assert f"{RAW}: lifecycle not read, no rule put (NoSuchBucket" in reason
        assert "deleted 4 Lambda versions (verified gone)" in reason
        assert pages(p) == []
    finally:
        p.__exit__(None, None, None)


@pytest.mark.procedure("D6", "targets gone since the plan: said so, not a failure")
def test_a_version_and_a_log_group_gone_since_the_plan_are_reported_as_already_gone(
    pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Review 13: between the plan and the apply a person deletes structured_data_processor:1
    and the log group the plan would retain: the run is FIXED, says both were already
    gone, and counts neither as its own."""
    p = pipeline
    module = sys.modules["selfheal_shared.platform.cost_hygiene_aws"]
    real = module.log_groups

    def then_removed() -> list[dict[str, Any]]:
        out = real()

        def operator() -> None:
            p.client("lambda").delete_function(
                FunctionName="structured_data_processor", Qualifier="1"
            )
            p.client("logs").delete_log_group(logGroupName="/aws/lambda/lambda_router")

        contextvars.Context().run(operator)
        return out

    monkeypatch.setattr(module, "log_groups", then_removed)
    run = weekly(p)
    assert run["status"] == "SUCCEEDED" and "NotifyDone" in run["states"]
    [report] = ops_reports(p)
    message = report["message"]
    assert message["outcome"] == "FIXED"
    counts = message["details"]["counts"]
    assert (counts["versionsDeleted"], counts["logGroupsRetained"], counts["alreadyGone"]) == (
        3,
        0,
        2,
    )
    assert (
        "already gone before this run reached them: structured_data_processor:1, "
        "/aws/lambda/lambda_router" in message["summary"]
    )
    assert records(p, "cost_hygiene_failed") == [] and pages(p) == []


@pytest.mark.procedure("D6", "a second run within the hour is held by the cooldown")
def test_a_second_run_within_the_hour_is_held_and_pages_nobody(pipeline: Pipeline) -> None:
    """Review 13: two runs at once (a manual one beside the schedule's) would delete the same
    versions; the 60-minute cooldown holds the second, which changes nothing."""
    p = pipeline
    first = weekly(p)
    assert first["status"] == "SUCCEEDED" and "NotifyDone" in first["states"]
    after_first = state(p, WORLD)
    # A version published since, so the second run has something to do.
    lam = p.client("lambda")
    lam.update_function_code(FunctionName="structured_data_processor", ZipFile=lambda_zip("v9"))
    lam.publish_version(FunctionName="structured_data_processor")
    second = start_with(p, {}, SLOT + timedelta(minutes=20))
    assert second["status"] == "SUCCEEDED" and "EscalateGuarded" in second["states"]
    held = state(p, WORLD)["versions"]["structured_data_processor"]
    assert held[:5] == after_first["versions"]["structured_data_processor"] and len(held) == 6
    ticket = ops_reports(p)[-1]["message"]
    assert ticket["refusal"]["guard"] == "cooldown"
    assert pages(p) == []


@pytest.mark.procedure("D6", "a maintenance window on the platform holds the run")
def test_a_platform_maintenance_window_holds_the_run(pipeline: Pipeline) -> None:
    """Review 14: a window recorded on system:ons-data-platform (runbook 001's scope) holds
    cost hygiene: nothing changed, a ticket says which guard held it."""
    from selfheal_shared.core import guards

    p = pipeline
    guards.set_maintenance(
        "system:ons-data-platform",
        starts=SLOT - timedelta(hours=1),
        ends=SLOT + timedelta(hours=3),
        reason="platform maintenance",
    )
    before = state(p, WORLD)
    run = weekly(p)
    assert run["status"] == "SUCCEEDED" and "EscalateGuarded" in run["states"]
    assert state(p, WORLD) == before
    [ticket] = ops_reports(p)
    assert ticket["message"]["refusal"]["guard"] == "maintenance_window"
    assert pages(p) == []


@pytest.mark.procedure("D6", "a maintenance window opened mid-run holds the next change")
def test_a_platform_maintenance_window_opened_mid_run_stops_the_next_change(
    pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Review 14: the apply step reads the guards again before each change, under the same
    scope: a window recorded after the first deletion stops the second."""
    from selfheal_shared.core import guards

    p = pipeline
    module = sys.modules["selfheal_shared.platform.cost_hygiene_aws"]
    real_delete = module.delete_version

    def delete_then_window(function: str, version: str) -> bool:
        done = real_delete(function, version)
        contextvars.Context().run(
            guards.set_maintenance,
            "system:ons-data-platform",
            starts=SLOT - timedelta(minutes=1),
            ends=SLOT + timedelta(hours=3),
            reason="platform maintenance",
        )
        return done

    monkeypatch.setattr(module, "delete_version", delete_then_window)
    run = weekly(p)
    assert run["status"] == "SUCCEEDED" and "EscalateRefused" in run["states"]
    after = state(p, WORLD)
    assert after["versions"]["lambda_router"] == ["1", "2", "4", "5", "6", "7", "8"]
    assert after["versions"]["structured_data_processor"] == ALL
    [ticket] = ops_reports(p)
    assert ticket["message"]["refusal"]["guard"] == "maintenance_window"


@pytest.mark.procedure("D6", "dry run: the list, nothing deleted or changed")
def test_one_run_asked_as_a_dry_run_sends_the_list_and_changes_nothing(
    pipeline: Pipeline,
) -> None:
    """Review 8: `dryRun: true` in one run's input (no global switch) reaches the guards."""
    p = pipeline
    before = state(p, WORLD)
    run = start_with(p, {"dryRun": True})
    assert run["status"] == "SUCCEEDED" and "EscalateGuarded" in run["states"]
    assert state(p, WORLD) == before
    [ticket] = ops_reports(p)
    assert ticket["message"]["refusal"]["guard"] == "dry_run"
    assert "delete structured_data_processor:1" in ticket["message"]["reason"]


@pytest.mark.procedure("D6", "keep the last N Lambda versions")
def test_a_function_of_its_own_keeps_its_own_n(
    pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Review 15: keepLastByFunction (3, the runbook's one-off loop) for one function: it
    keeps its last 3, the others their 5, and the plan says each N."""
    p = pipeline
    configured(monkeypatch, lambdaVersions__keepLastByFunction={"structured_data_processor": 3})
    run = weekly(p)
    assert run["status"] == "SUCCEEDED"
    after = state(p, WORLD)
    assert after["versions"]["structured_data_processor"] == ["6", "7", "8"]
    assert after["versions"]["lambda_router"] == ["1", "2", "4", "5", "6", "7", "8"]
    [planned] = records(p, "cost_hygiene_plan")
    assert "keeping the last 5; structured_data_processor: 3" in planned["result"]


@pytest.mark.procedure("D6", "at most the configured changes a run; the rest next week")
def test_a_run_makes_at_most_the_configured_changes_and_the_next_week_continues(
    pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Review 4: with a cap of 3 changes (the lifecycle put is one), the first run deletes
    two versions and reports three changes left; the next week's run does them."""
    p = pipeline
    configured(monkeypatch, maxChangesPerRun=3)
    first = weekly(p)
    assert first["status"] == "SUCCEEDED"
    message = ops_reports(p)[-1]["message"]
    assert message["details"]["counts"]["versionsDeleted"] == 2
    assert message["details"]["counts"]["left"] == 3
    assert "3 more changes left for the next run" in message["summary"]
    second = weekly(p, SLOT + timedelta(days=7))
    assert second["status"] == "SUCCEEDED"
    after = state(p, WORLD)
    assert after["versions"]["structured_data_processor"] == ["4", "5", "6", "7", "8"]
    assert after["versions"]["lambda_router"] == ["1", "2", "4", "5", "6", "7", "8"]
    assert after["retention"]["/aws/lambda/lambda_router"] == 30


@pytest.mark.procedure("D6", "the raw bucket's configured lifecycle rules merged into its own")
def test_a_bucket_without_rules_records_delete_lifecycle_as_its_undo(
    cost_spec: spec_mod.Spec,
) -> None:
    """Review 12: a bucket that had no rules cannot be put back with an empty configuration
    (AWS rejects it): the recorded inverse is DeleteBucketLifecycle."""
    world = WORLD.model_copy(update={"rawRules": []})
    p = start(cost_spec, world=world)
    try:
        assert weekly(p)["status"] == "SUCCEEDED"
        [put] = [r for r in records(p, "put_lifecycle_rules") if r.get("inverse")]
        assert json.loads(put["inverse"]) == {"action": "s3:DeleteBucketLifecycle", "bucket": RAW}
    finally:
        p.__exit__(None, None, None)


@pytest.mark.procedure("D6", "weekly schedule (Sunday 05:00 Brasilia) starts the run")
def test_the_weekly_schedule_fires_sunday_at_five_brasilia(pipeline: Pipeline) -> None:
    from local.schedules import occurrences

    schedule = pipeline.spec.schedules["cost_hygiene_weekly"]
    assert schedule.workflow == "cost_hygiene"
    [nxt] = occurrences(schedule, SLOT - timedelta(days=2))
    assert nxt == SLOT.astimezone(nxt.tzinfo)
    assert nxt.astimezone(TZ).weekday() == 6 and nxt.astimezone(TZ).hour == 5


@pytest.mark.procedure("D6", "never a version behind an alias or named by a CodeDeploy deployment")
def test_a_version_a_weighted_alias_routes_to_is_never_deleted(cost_spec: spec_mod.Spec) -> None:
    """An alias shifting 10% of the traffic to structured_data_processor:3 (a canary or a
    rollback in progress) keeps :3, though it is older than the last five."""
    world = WORLD.model_copy(deep=True)
    world.functions[1].routing = {"live": {"3": 0.1}}
    p = start(cost_spec, world=world)
    try:
        assert weekly(p)["status"] == "SUCCEEDED"
        after = state(p, world)
        assert after["versions"]["structured_data_processor"] == ["3", "4", "5", "6", "7", "8"]
        [report] = ops_reports(p)
        assert (
            "structured_data_processor:3 (behind alias live (weighted))"
            in (report["message"]["summary"])
        )
    finally:
        p.__exit__(None, None, None)


@pytest.mark.procedure("D6", "the raw bucket's configured lifecycle rules merged into its own")
def test_the_bucket_s_minimum_transition_size_is_put_back_with_the_rules(
    pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Review 11: a put without TransitionDefaultMinimumObjectSize resets it to AWS's
    default; the bucket's own setting (here `varies_by_storage_class`, which moto does not
    keep, so it is answered on the read) is put back with the merged rules."""
    p = pipeline
    puts: list[dict[str, Any]] = []

    class S3:
        def __init__(self, inner: Any) -> None:
            self._inner = inner

        def get_bucket_lifecycle_configuration(self, **kw: Any) -> Any:
            found = dict(self._inner.get_bucket_lifecycle_configuration(**kw))
            return {**found, "TransitionDefaultMinimumObjectSize": "varies_by_storage_class"}

        def put_bucket_lifecycle_configuration(self, **kw: Any) -> Any:
            puts.append(kw)
            return self._inner.put_bucket_lifecycle_configuration(**kw)

        def __getattr__(self, name: str) -> Any:
            return getattr(self._inner, name)

    patch_clients(monkeypatch, {"s3": S3})
    assert weekly(p)["status"] == "SUCCEEDED"
    [put] = puts
    assert put["TransitionDefaultMinimumObjectSize"] == "varies_by_storage_class"
    assert [r["ID"] for r in put["LifecycleConfiguration"]["Rules"]] == [
        "expire-tmp",
        "selfheal-raw-tiering",
    ]
    [done] = [r for r in records(p, "put_lifecycle_rules") if r.get("inverse")]
    assert json.loads(done["inverse"])["transitionDefaultMinimumObjectSize"] == (
        "varies_by_storage_class"
    )


@pytest.mark.procedure("D6", "never a version an event source mapping invokes")
def test_a_version_an_event_source_mapping_invokes_is_never_deleted(
    cost_spec: spec_mod.Spec,
) -> None:
    """Review 9: a queue's mapping invokes structured_data_processor:2 (a qualified
    mapping): deleting :2 would break it, so it stays whatever its age."""
    world = WORLD.model_copy(deep=True)
    world.functions[1].mapped = ["2"]
    p = start(cost_spec, world=world)
    try:
        assert weekly(p)["status"] == "SUCCEEDED"
        after = state(p, world)
        assert after["versions"]["structured_data_processor"] == ["2", "4", "5", "6", "7", "8"]
        [report] = ops_reports(p)
        why = "read by event source mapping structured_data_processor-2-in"
        assert f"structured_data_processor:2 ({why})" in report["message"]["summary"]
    finally:
        p.__exit__(None, None, None)
