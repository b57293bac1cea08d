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
import sys
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from botocore.exceptions import ClientError
from selfheal_cdk import spec as spec_mod

from local.runtime import Pipeline
from local.schedules import fire
from local.worlds import World
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
        "logGroupsRetained": counts["logGroupsRetained"],
        "lifecycleRulesPut": 1,
        "failed": 0,
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
    [page] = [n for n in p.notifications() if n["level"] == "l1"]
    reason = page["message"]["reason"]
    assert "1 changes failed or withheld: structured_data_processor:2" in reason
    assert "AccessDeniedException" in reason
    assert "deleted 3 Lambda versions (verified gone)" in reason
    assert not ops_reports(p), "no 'done' report for a run that failed a change"
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

    def delete_then_switch(function: str, version: str) -> None:
        real_delete(function, version)
        # The operator's write, not the function's (outside its role: a context of its own).
        contextvars.Context().run(
            guards.set_switch, guards.KILL_SWITCH, enabled=True, reason="stop it", actor="ana"
        )

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
        [page] = [n for n in p.notifications() if n["level"] == "l1"]
        assert (
            "no Lambda version deleted: a CodeDeploy deployment does not say"
            in (page["message"]["reason"])
        )
        assert "revision type S3 carries no AppSpec content" in page["message"]["reason"]
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
