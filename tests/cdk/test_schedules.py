"""The scheduled jobs in the synthesized template: EventBridge Scheduler schedules from
`events/schedules/*.json` (cron, time zone, target, input), the buckets and the training
role they need, and the local runtime's reading of the same schedule files.

Expectations come from the spec (the files), values are parsed, never string-matched."""

from __future__ import annotations

import json
import re
import shutil
import tomllib
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from cdk_synth import ROOT, Synth
from selfheal_cdk import spec as spec_mod

from local.schedules import CronError, occurrences, scheduler_input

BRT = ZoneInfo("America/Sao_Paulo")


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def machine_ids(synth: Synth) -> dict[str, str]:
    return {name: synth.logical_id(sm) for name, sm in synth.state_machines.items()}


def dead_letter_queue_of(synth: Synth, workflow: str) -> str:
    """The logical id of the dead-letter queue of the stack that deploys `workflow`."""
    domain = synth.domains[synth.spec.domain_of(workflow)]
    return synth.logical_id(domain.dead_letters.queue)


def role_statements(synth: Synth, role_id: str) -> list[dict[str, Any]]:
    out = []
    for res in synth.resources("AWS::IAM::Policy").values():
        if {"Ref": role_id} in res["Properties"].get("Roles", []):
            out += res["Properties"]["PolicyDocument"]["Statement"]
    return out


# -- schedules ------------------------------------------------------------------------------


def test_one_schedule_per_file_with_its_cron_time_zone_target_and_input(synth: Synth) -> None:
    schedules = synth.resources("AWS::Scheduler::Schedule")
    # The files', plus the accuracy publisher's (tests/cdk/test_forecast_accuracy.py)
    # and the service probe's (tests/cdk/test_cdk_alarms.py).
    assert len(schedules) == len(synth.spec.schedules) + 2
    assert {
        "fiscal_report_monthly",
        "retrain_model_weekly",
        "cost_hygiene_weekly",
        "security_checks_daily",
        "maintenance_window_weekly",
    } <= set(synth.spec.schedules)
    machines = machine_ids(synth)
    for name, sch in synth.spec.schedules.items():
        queue_id = dead_letter_queue_of(synth, sch.workflow)
        matching = [
            r["Properties"]
            for r in schedules.values()
            if r["Properties"]["ScheduleExpression"] == sch.expression
        ]
        assert len(matching) == 1, name
        props = matching[0]
        assert props["ScheduleExpressionTimezone"] == sch.timezone
        assert props["FlexibleTimeWindow"] == {"Mode": "OFF"}
        assert props["State"] == ("ENABLED" if sch.enabled else "DISABLED"), name
        target = props["Target"]
        assert target["Arn"] == {"Ref": machines[sch.workflow]}, name
        assert json.loads(target["Input"]) == sch.input
        assert target["DeadLetterConfig"]["Arn"] == {"Fn::GetAtt": [queue_id, "Arn"]}
        assert target["RetryPolicy"]["MaximumRetryAttempts"] > 0


def test_the_weekly_maintenance_window_ships_disabled(synth: Synth) -> None:
    """A deploy must not start taking the platform down for 2 h every week: the operator
    enables the schedule once the window is agreed (README, "Maintenance window")."""
    sch = synth.spec.schedules["maintenance_window_weekly"]
    assert not sch.enabled
    [props] = [
        r["Properties"]
        for r in synth.resources("AWS::Scheduler::Schedule").values()
        if r["Properties"]["ScheduleExpression"] == sch.expression
    ]
    assert props["State"] == "DISABLED"
    assert "weekly planned maintenance" not in json.dumps(sch.input), "a neutral reason"


def test_fiscal_report_runs_day_1_at_3am_sao_paulo_and_retraining_weekly() -> None:
    spec = spec_mod.load()
    fiscal = spec.schedules["fiscal_report_monthly"]
    assert (fiscal.expression, fiscal.timezone) == ("cron(0 3 1 * ? *)", "America/Sao_Paulo")
    assert fiscal.input["scheduledTime"] == "<aws.scheduler.scheduled-time>"
    assert fiscal.workflow == "fiscal_report" and fiscal.catalog == ("E4",)
    weekly = spec.schedules["retrain_model_weekly"]
    assert weekly.workflow == "retrain_model" and "E3" in weekly.catalog


def test_cost_hygiene_runs_weekly_on_sunday_at_5am_sao_paulo() -> None:
    hygiene = spec_mod.load().schedules["cost_hygiene_weekly"]
    assert (hygiene.expression, hygiene.timezone) == ("cron(0 5 ? * SUN *)", "America/Sao_Paulo")
    assert hygiene.input == {
        "trigger": "schedule",
        "scheduledTime": "<aws.scheduler.scheduled-time>",
    }
    assert hygiene.workflow == "cost_hygiene" and hygiene.catalog == ("D6",)


def test_the_layer_carries_the_automations_configuration_but_not_the_examples() -> None:
    """cost_hygiene reads config/cost_hygiene.json from the layer in AWS (layer_files)."""
    from selfheal_cdk.functions import staged_layer

    stage = staged_layer(spec_mod.load())
    config = stage / "python" / "selfheal_shared" / "config"
    assert (config / "cost_hygiene.json").read_text() == (
        spec_mod.ROOT / "config" / "cost_hygiene.json"
    ).read_text()
    assert not (config / "subscriptions.example.json").exists()


def test_schedule_roles_may_start_only_their_target(synth: Synth) -> None:
    machines = machine_ids(synth)
    for name, role in synth.schedule_roles.items():
        queue_id = dead_letter_queue_of(synth, synth.spec.schedules[name].workflow)
        role_id = synth.logical_id(role)
        trust = synth.template["Resources"][role_id]["Properties"]["AssumeRolePolicyDocument"]
        [statement] = trust["Statement"]
        assert statement["Principal"] == {"Service": "scheduler.amazonaws.com"}
        assert "aws:SourceAccount" in statement["Condition"]["StringEquals"]
        starts = [
            s
            for s in role_statements(synth, role_id)
            if any(a.startswith("states:") for a in as_list(s["Action"]))
        ]
        target = machines[synth.spec.schedules[name].workflow]
        assert starts == [
            {"Action": "states:StartExecution", "Effect": "Allow", "Resource": {"Ref": target}}
        ], name
        sends = [
            s for s in role_statements(synth, role_id) if "sqs:SendMessage" in as_list(s["Action"])
        ]
        assert sends and all(s["Resource"] == {"Fn::GetAtt": [queue_id, "Arn"]} for s in sends)


def test_local_cron_fires_where_scheduler_would() -> None:
    spec = spec_mod.load()
    fiscal, weekly = spec.schedules["fiscal_report_monthly"], spec.schedules["retrain_model_weekly"]
    after = datetime(2026, 12, 15, 12, tzinfo=UTC)
    first, second = occurrences(fiscal, after, 2)
    assert first == datetime(2027, 1, 1, 3, 0, tzinfo=BRT)
    assert first.astimezone(UTC) == datetime(2027, 1, 1, 6, 0, tzinfo=UTC)
    assert second == datetime(2027, 2, 1, 3, 0, tzinfo=BRT)
    mondays = occurrences(weekly, after, 3)
    assert [m.weekday() for m in mondays] == [0, 0, 0] and {m.hour for m in mondays} == {4}
    payload = scheduler_input(fiscal, first, schedule_arn="arn:x", execution_id="e-1")
    assert payload == {**fiscal.input, "scheduledTime": "2027-01-01T06:00:00Z"}
    with pytest.raises(CronError, match="L, W and #"):
        occurrences(
            spec_mod.ScheduleSpec(
                name="x",
                path=Path("x"),
                description="",
                expression="cron(0 3 L * ? *)",
                timezone="UTC",
                workflow="w",
                input={},
                catalog=(),
            ),
            after,
        )


def test_schedule_wiring_mistakes_are_reported(tmp_path: Path) -> None:
    for part in ("events", "state_machines", "functions"):
        shutil.copytree(ROOT / part, tmp_path / part, ignore=shutil.ignore_patterns("__pycache__"))
    path = tmp_path / "events" / "schedules" / "fiscal_report_monthly.json"
    data = json.loads(path.read_text())
    data["target"]["workflow"] = "no_such_workflow"
    data["timezone"] = "America/Atlantis"
    data["scheduleExpression"] = "cron(0 3 1 * ?)"
    data["target"]["input"]["when"] = "<aws.scheduler.fire-time>"
    path.write_text(json.dumps(data))
    problems = "\n".join(spec_mod.load(tmp_path).problems())
    assert "target workflow 'no_such_workflow' does not exist" in problems
    assert "unknown time zone 'America/Atlantis'" in problems
    assert "cron needs 6 fields" in problems
    assert "<aws.scheduler.fire-time>" in problems


# -- what the jobs need -----------------------------------------------------------------------


def test_buckets_are_versioned_encrypted_private_and_logged(synth: Synth) -> None:
    logs = synth.logical_id(synth.core.buckets.access_logs)
    for kind, bucket in synth.core.buckets.buckets.items():
        props = synth.template["Resources"][synth.logical_id(bucket)]["Properties"]
        assert props["VersioningConfiguration"] == {"Status": "Enabled"}, kind
        [rule] = props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
        assert rule["ServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256", kind
        assert set(props["PublicAccessBlockConfiguration"].values()) == {True}, kind
        assert props["LoggingConfiguration"]["DestinationBucketName"] == {"Ref": logs}, kind
    tls_only = [
        r
        for r in synth.resources("AWS::S3::BucketPolicy").values()
        if any(
            s["Effect"] == "Deny" and s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
            for s in r["Properties"]["PolicyDocument"]["Statement"]
        )
    ]
    assert len(tls_only) == len(synth.core.buckets.buckets) + 1


def test_functions_get_exactly_the_buckets_they_declare_and_never_delete(synth: Synth) -> None:
    refs = {k: {"Ref": synth.logical_id(b)} for k, b in synth.core.buckets.buckets.items()}
    for name, fn in synth.functions.items():
        spec = synth.spec.functions[name]
        props = synth.template["Resources"][synth.logical_id(fn)]["Properties"]
        env = props["Environment"]["Variables"]
        declared = {
            k.removeprefix("SELFHEAL_BUCKET_").lower(): v
            for k, v in env.items()
            if k.startswith("SELFHEAL_BUCKET_")
        }
        assert declared == {k: refs[k] for k in spec.buckets}, name
        role_id = props["Role"]["Fn::GetAtt"][0]
        actions = {a for s in role_statements(synth, role_id) for a in as_list(s["Action"])}
        assert not {a for a in actions if a.startswith("s3:Delete")}, name
        declared_put = any("s3:PutObject" in e["actions"] for e in spec.permissions)
        assert ("s3:PutObject" in actions) == ("write" in spec.buckets.values() or declared_put), (
            name
        )


def test_training_role_is_passed_only_to_sagemaker_by_the_function_that_starts_jobs(
    synth: Synth,
) -> None:
    training = synth.logical_id(synth.core.training.role)
    trust = synth.template["Resources"][training]["Properties"]["AssumeRolePolicyDocument"]
    assert trust["Statement"][0]["Principal"] == {"Service": "sagemaker.amazonaws.com"}
    passing = []
    for name, fn in synth.functions.items():
        role_id = synth.template["Resources"][synth.logical_id(fn)]["Properties"]["Role"][
            "Fn::GetAtt"
        ][0]
        for s in role_statements(synth, role_id):
            if "iam:PassRole" in as_list(s["Action"]):
                assert s["Resource"] == {"Fn::GetAtt": [training, "Arn"]}, name
                assert s["Condition"] == {
                    "StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}
                }
                passing.append(name)
    assert passing == ["retrain_start"]
    env = synth.template["Resources"][synth.logical_id(synth.functions["retrain_start"])][
        "Properties"
    ]["Environment"]["Variables"]
    assert env["SELFHEAL_TRAINING_ROLE_ARN"] == {"Fn::GetAtt": [training, "Arn"]}
    image = json.dumps(env["SELFHEAL_TRAINING_IMAGE"])
    assert "/selfheal-forecast-train:latest" in image


def test_layer_ships_the_input_schemas_published_next_to_the_workflows(synth: Synth) -> None:
    layer = synth.template["Resources"][synth.logical_id(synth.core.layers.shared)]
    asset_hash = layer["Properties"]["Content"]["S3Key"].removesuffix(".zip")
    schemas = synth.outdir / f"asset.{asset_hash}" / "python" / "selfheal_shared" / "schemas"
    published = {wf.input_schema for wf in synth.spec.workflows.values() if wf.input_schema}
    assert {p.name for p in published} >= {
        "fiscal_report.input.schema.json",
        "retrain_model.input.schema.json",
    }
    for path in published:
        assert (schemas / path.name).read_bytes() == path.read_bytes()


def test_function_requirements_pin_what_pyproject_pins() -> None:
    """What a function bundles for AWS is what the tests ran with."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    pins = dict(re.match(r"^([A-Za-z0-9_.-]+)(?:\[.*\])?==(.+)$", d).groups() for d in project)  # type: ignore[union-attr]
    found = 0
    for fn in spec_mod.load().functions.values():
        if fn.requirements is None:
            continue
        for line in fn.requirements.read_text().splitlines():
            if line.strip() and not line.startswith("#"):
                name, _, version = line.strip().partition("==")
                assert pins.get(name) == version, f"{fn.name}: {line} vs pyproject"
                found += 1
    assert found >= 2


def test_the_function_that_builds_the_fiscal_report_bundles_the_holiday_calendar() -> None:
    """`fiscal.build_report` imports `holidays` (not in the layer, not in the Lambda runtime):
    every function calling it bundles it with its dependencies, pinned."""
    from importlib.metadata import requires

    deps = {"holidays"} | {
        re.split(r"[<>=!~;\s\[]", r, maxsplit=1)[0].lower()
        for r in requires("holidays") or []
        if "extra ==" not in r
    }
    callers = [
        fn
        for fn in spec_mod.load().functions.values()
        if "build_report(" in (fn.path / "app.py").read_text()
    ]
    assert [fn.name for fn in callers] == ["fiscal_render"]
    for fn in callers:
        assert fn.requirements is not None, fn.name
        bundled = {
            line.partition("==")[0].strip().lower()
            for line in fn.requirements.read_text().splitlines()
            if line.strip() and not line.startswith("#")
        }
        assert deps <= bundled, f"{fn.name} does not bundle {deps - bundled}"
