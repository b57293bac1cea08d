"""security_checks end to end (runbook 001 "Verificações Diárias de Segurança", D8): the
daily schedule fired at virtual time, the real ASL on moto, the world's IAM changes, keys
and log lines made at their own virtual times (moto dates them), the report read from what
the security contact's topic received, and AWS's state compared before and after: the
checks report, they never delete a key or change a group."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from botocore.exceptions import ClientError
from moto.sns.models import sns_backends
from selfheal_cdk import spec as spec_mod
from selfheal_shared.platform import security_checks as sc

from local.host import REGION
from local.runtime import Pipeline
from local.schedules import fire
from local.world_api import ACCOUNT
from local.worlds import World, WorldSpec
from local.worlds.platform import SecurityWorld, live_until
from tests.helpers import spec_for

BRT = ZoneInfo("America/Sao_Paulo")
#: A slot of the daily schedule (07:00 Brasilia).
CHECK = datetime(2027, 3, 10, 7, 0, tzinfo=BRT)
#: The pipeline (and the roles it creates, CloudTrail events too) starts long before.
START = (CHECK - timedelta(days=125)).astimezone(UTC)
ROLE = "lambda_router-role"
ADMIN = f"arn:aws:iam::{ACCOUNT}:policy/ons-data-platform-admin"
TOKEN = "tok3nV4lue9"


def world(**changes: Any) -> WorldSpec:
    base: dict[str, Any] = {
        "reportAt": CHECK.astimezone(UTC).isoformat(),
        "roles": [ROLE],
        "policies": ["ons-data-platform-admin"],
        "users": [
            {"userName": "etl-bot", "keys": [{"ageDays": 120}]},
            {"userName": "analyst", "keys": [{"ageDays": 10}]},
        ],
        "policyChanges": [
            {
                "event": "PutRolePolicy",
                "roleName": ROLE,
                "policy": "old-inline",
                "ageHours": 21 * 24,
            },
            {"event": "AttachRolePolicy", "roleName": ROLE, "policy": ADMIN, "ageHours": 3},
        ],
        "securityGroups": [
            {"name": "ons-data-platform-bastion", "ingress": [{"port": 22, "cidr": "0.0.0.0/0"}]},
            {"name": "ons-data-platform-api", "ingress": [{"port": 443, "cidr": "::/0"}]},
            {"name": "ons-data-platform-db", "ingress": [{"port": 5432, "cidr": "10.40.0.0/16"}]},
        ],
        "logGroups": [
            {
                "name": "/aws/lambda/lambda_router",
                "lines": [
                    {"ageHours": 30, "message": "SECURITY yesterday's blocked request"},
                    {
                        "ageHours": 2,
                        "message": f"SECURITY 5 failed logins for admin (token={TOKEN})",
                    },
                    {"ageHours": 1, "message": "INFO processed 120 records"},
                ],
            }
        ],
    }
    return WorldSpec(security=SecurityWorld.model_validate(base | changes))


@dataclass
class Run:
    """What one run left behind, read before its moto world closes."""

    summary: dict[str, Any]
    notifications: list[dict[str, Any]]
    audit: list[dict[str, Any]]
    before: dict[str, Any]
    after: dict[str, Any]
    key_ids: list[str]
    #: The e-mail texts SNS was given, by level (what a person reads).
    emails: dict[str, list[str]]
    #: The whole report kept in the reports bucket (None when none was kept).
    kept: dict[str, Any] | None

    def pages(self, level: str) -> list[dict[str, Any]]:
        return [n for n in self.notifications if n["level"] == level]

    def text(self) -> str:
        """The readable report, as the security contact's page carries it (once)."""
        [page] = self.pages("security")
        return str(page["message"].get("reason") or page["message"]["summary"])

    def report(self) -> dict[str, Any]:
        [page] = self.pages("security")
        message = page["message"]
        found = (message.get("incident") or {}).get("report") or message["details"]["report"]
        assert isinstance(found, dict)
        return found


def aws_state(p: Pipeline) -> dict[str, Any]:
    """What the checks must leave as it was: keys, groups' rules, the role's policies."""
    iam, ec2 = p.client("iam"), p.client("ec2")
    keys = {
        u["UserName"]: sorted(
            (k["AccessKeyId"], k["Status"])
            for k in iam.list_access_keys(UserName=u["UserName"])["AccessKeyMetadata"]
        )
        for u in iam.list_users()["Users"]
    }
    groups = {
        g["GroupId"]: json.dumps(g["IpPermissions"], sort_keys=True, default=str)
        for g in ec2.describe_security_groups()["SecurityGroups"]
    }
    attached = iam.list_attached_role_policies(RoleName=ROLE)["AttachedPolicies"]
    inline = iam.list_role_policies(RoleName=ROLE)["PolicyNames"]
    return {"keys": keys, "groups": groups, "attached": attached, "inline": inline}


def emails(p: Pipeline) -> dict[str, list[str]]:
    """The e-mail text of each publish, by level (SNS's `email` key of the structured page)."""
    topics = sns_backends[ACCOUNT][REGION].topics
    return {
        level: [json.loads(m)["email"] for _id, m, *_ in topics[arn].sent_notifications]
        for level, arn in p.topics.items()
        if arn in topics
    }


def kept_report(p: Pipeline, notifications: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The whole report the page points at (`fullReport`, s3://bucket/key), read from S3."""
    for n in notifications:
        msg = n["message"]
        report = (msg.get("incident") or {}).get("report") or msg.get("details", {}).get("report")
        where = str((report or {}).get("fullReport") or "")
        if where.startswith("s3://"):
            bucket, key = where.removeprefix("s3://").split("/", 1)
            body = p.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read()
            found: dict[str, Any] = json.loads(body)
            return found
    return None


def run_checks(
    jobs: spec_mod.Spec,
    spec: WorldSpec,
    *,
    dry_run: bool = False,
    before_fire: Callable[[Pipeline], None] | None = None,
    start: Callable[[Pipeline], str] | None = None,
) -> Run:
    """The world lived up to the check, then the daily schedule fired (or `start`)."""
    p = Pipeline(world=World(spec), spec=jobs, start=START, dry_run=dry_run)
    p.__enter__()
    try:
        assert spec.security is not None
        live_until(p, spec.security, CHECK.astimezone(UTC))
        if before_fire:
            before_fire(p)
        before = aws_state(p)
        arn = start(p) if start else fire(p, "security_checks_daily", CHECK)
        p.wait([arn], timeout=120)
        notifications = p.notifications()
        return Run(
            summary=p.execution_summary(arn),
            notifications=notifications,
            audit=p.audit_records(),
            before=before,
            after=aws_state(p),
            key_ids=[k for pairs in before["keys"].values() for k, _ in pairs],
            emails=emails(p),
            kept=kept_report(p, notifications),
        )
    finally:
        p.__exit__(None, None, None)


@pytest.fixture(scope="module")
def jobs() -> spec_mod.Spec:
    return spec_for(["security_checks"])


@pytest.fixture(scope="module")
def findings_day(jobs: spec_mod.Spec) -> Run:
    return run_checks(jobs, world())


@pytest.mark.procedure("D8", "daily schedule (07:00 Brasilia) starts the checks")
def test_the_daily_schedule_runs_the_checks_over_the_day_before(findings_day: Run) -> None:
    report = findings_day.report()
    end = CHECK.astimezone(UTC) - timedelta(minutes=15)  # late deliveries: the next day's
    assert report["window"] == {
        "start": (end - timedelta(hours=24)).isoformat(),
        "end": end.isoformat(),
    }
    assert set(report["checks"]) == {
        "iam_policy_changes",
        "old_access_keys",
        "open_security_groups",
        "security_logs",
    }
    assert all(c["ran"] for c in report["checks"].values())


@pytest.mark.procedure("D8", "a policy change of the last 24 h reported, one 21 days old not")
def test_an_iam_change_of_the_last_day_is_reported_and_an_old_one_is_not(
    findings_day: Run,
) -> None:
    [change] = findings_day.report()["checks"]["iam_policy_changes"]["findings"]
    assert change["event"] == "AttachRolePolicy"
    assert change["target"] == f"role {ROLE}" and change["policy"] == ADMIN
    at = datetime.fromisoformat(change["at"])
    assert at == CHECK.astimezone(UTC) - timedelta(hours=3)
    assert "old-inline" not in json.dumps(findings_day.report())


@pytest.mark.procedure("D8", "a 120-day-old key reported (its id masked), a 10-day-old one not")
def test_a_key_older_than_90_days_is_reported_masked(findings_day: Run) -> None:
    [key] = findings_day.report()["checks"]["old_access_keys"]["findings"]
    assert key["user"] == "etl-bot" and key["ageDays"] == 120 and key["status"] == "Active"
    [full] = [k for k, _ in findings_day.before["keys"]["etl-bot"]]
    assert key["accessKey"] == f"{full[:4]}…{full[-4:]}"
    everything = json.dumps(findings_day.notifications)
    for key_id in findings_day.key_ids:  # never a whole key id, let alone a secret
        assert key_id not in everything


@pytest.mark.procedure(
    "D8", "a security group open to 0.0.0.0/0 or ::/0 reported, a closed one not"
)
def test_a_group_open_to_the_internet_is_reported(findings_day: Run) -> None:
    found = findings_day.report()["checks"]["open_security_groups"]["findings"]
    assert sorted((r["groupName"], r["protocol"], r["ports"], r["source"]) for r in found) == [
        ("ons-data-platform-api", "tcp", "443", "::/0"),
        ("ons-data-platform-bastion", "tcp", "22", "0.0.0.0/0"),
    ]


@pytest.mark.procedure("D8", "SECURITY log lines of the last 24 h reported, redacted")
def test_security_lines_of_the_day_are_reported_redacted(findings_day: Run) -> None:
    [line] = findings_day.report()["checks"]["security_logs"]["findings"]
    assert line["logGroup"] == "/aws/lambda/lambda_router"
    assert "5 failed logins for admin" in line["message"]
    assert TOKEN not in json.dumps(findings_day.notifications)


@pytest.mark.procedure("D8", "findings reported to the security contact; nothing changed")
def test_findings_go_to_the_security_contact_and_nothing_is_changed(findings_day: Run) -> None:
    run = findings_day
    assert run.summary["status"] == "FAILED"  # handed to people, never "succeeded"
    assert "EscalateFindings" in run.summary["states"]
    [page] = run.pages("security")
    assert page["message"]["outcome"] == "ESCALATED"
    assert page["message"]["incident"]["securityContact"].startswith("Incidentes de Segurança")
    text = run.text()
    assert run.report()["summary"] == (
        "5 finding(s) (IAM policy changes (CloudTrail): 1, access keys older than 90 days or "
        "of the root user: 1, security groups open to the internet (a public /8 or wider) in "
        "us-east-1: 2, "
        "SECURITY log lines: 1)"
    )
    assert "text" not in run.report()  # the readable report once: the page's reason
    assert json.dumps(page["message"]).count("Nothing was deleted or changed") == 1
    assert f"\n    {CHECK.astimezone(UTC) - timedelta(hours=3):%Y-%m-%dT%H:%M}" in text
    assert "Nothing was deleted or changed" in text
    assert not run.pages("l1") and not run.pages("l2")
    assert run.after == run.before  # no key deleted or disabled, no rule revoked
    assert [p["PolicyArn"] for p in run.after["attached"]] == [ADMIN]


@pytest.mark.procedure("D8", "a clean day: a short 'nothing found' report to the security contact")
def test_a_clean_day_sends_a_short_nothing_found_report(jobs: spec_mod.Spec) -> None:
    run = run_checks(
        jobs,
        world(
            users=[{"userName": "analyst", "keys": [{"ageDays": 10}]}],
            policyChanges=[
                {"event": "PutRolePolicy", "roleName": ROLE, "policy": "x", "ageHours": 21 * 24}
            ],
            securityGroups=[
                {"name": "ons-data-platform-db", "ingress": [{"port": 5432, "cidr": "10.0.0.0/8"}]}
            ],
            logGroups=[
                {
                    "name": "/aws/lambda/lambda_router",
                    "lines": [{"ageHours": 1, "message": "INFO processed 120 records"}],
                }
            ],
        ),
    )
    assert run.summary["status"] == "SUCCEEDED"
    [page] = run.pages("security")
    assert page["message"]["outcome"] == "NO_ACTION_NEEDED"
    assert run.report()["summary"] == "nothing found in the last 24 h: every check ran"
    assert page["message"]["summary"].startswith("Security checks ")
    assert "text" not in run.report()  # the readable report once: the page's summary
    # short: the head, a line per check, where the whole report is, nothing changed
    assert len(page["message"]["summary"].splitlines()) == 7
    assert all(c["ran"] and not c["findings"] for c in run.report()["checks"].values())
    assert not run.pages("l1")
    assert run.after == run.before


@pytest.mark.procedure("D8", "the schedule delivered twice: one run, one report")
def test_a_schedule_fired_twice_sends_one_report(jobs: spec_mod.Spec) -> None:
    """EventBridge Scheduler may deliver a slot twice: the claim keeps one run."""

    def fire_first(p: Pipeline) -> None:
        p.wait([fire(p, "security_checks_daily", CHECK)], timeout=120)

    run = run_checks(jobs, world(), before_fire=fire_first)
    assert run.summary["status"] == "SUCCEEDED" and "Duplicate" in run.summary["states"]
    assert len(run.pages("security")) == 1
    assert len([r for r in run.audit if r["action"] == "old_access_keys"]) == 1


def _deny_list_access_keys(made: Any) -> None:
    """An organization's SCP denying iam:ListAccessKeys: AWS answers AccessDenied."""

    def refuse(model: Any, **_: Any) -> None:
        if model.name == "ListAccessKeys":
            raise ClientError(
                {
                    "Error": {
                        "Code": "AccessDenied",
                        "Message": "User is not authorized to perform: iam:ListAccessKeys "
                        "with an explicit deny in a service control policy",
                    },
                    "ResponseMetadata": {"HTTPStatusCode": 403},
                },
                "ListAccessKeys",
            )

    made.meta.events.register("before-parameter-build.iam.ListAccessKeys", refuse)


@pytest.fixture
def scp_denies_list_access_keys() -> Iterator[None]:
    from selfheal_shared.core import clients

    clients.observers.append(_deny_list_access_keys)
    clients.reset()
    try:
        yield
    finally:
        clients.observers.remove(_deny_list_access_keys)
        clients.reset()


@pytest.mark.procedure("D8", "a check refused (AccessDenied): reported as not run, escalated")
def test_a_refused_check_is_reported_as_not_run_and_escalated(
    jobs: spec_mod.Spec, scp_denies_list_access_keys: None
) -> None:
    run = run_checks(jobs, world())
    assert run.summary["status"] == "FAILED" and "EscalateNotRun" in run.summary["states"]
    report = run.report()
    keys = report["checks"]["old_access_keys"]
    assert keys["ran"] is False and keys["error"].startswith("AccessDenied")
    assert report["notRun"] == ["old_access_keys"]
    assert "nothing found" not in report["summary"]
    assert "DID NOT RUN (AccessDenied" in run.text()
    assert report["checks"]["iam_policy_changes"]["findings"]  # the others still reported
    [l1] = run.pages("l1")
    assert l1["message"]["outcome"] == "FAILED" and "did not run" in l1["message"]["reason"]
    assert run.after == run.before


@pytest.mark.procedure(
    "D8",
    "kill switch on: the read-only report runs and says so (the one workflow it does not stop)",
)
def test_the_kill_switch_does_not_blind_the_security_contact(jobs: spec_mod.Spec) -> None:
    """The kill switch holds selfheal's actions; these checks take none (DESIGN.md safety
    rules: one kill switch stops every remediator). Pausing automation must not also stop
    the security report: it runs, says the switch is on, and changes nothing."""

    def kill(p: Pipeline) -> None:
        from selfheal_shared.core import guards

        guards.set_switch(guards.KILL_SWITCH, enabled=True, reason="drill", actor="ana")

    run = run_checks(jobs, world(), before_fire=kill)
    report = run.report()
    [switch] = report["switches"]
    assert switch.startswith("kill switch on: drill (by ana")
    assert "kill switch on: drill" in run.text() and "only reads and ran anyway" in run.text()
    assert all(c["ran"] for c in report["checks"].values())
    assert run.after == run.before
    [guard] = [r for r in run.audit if r["action"] == "guards"]
    assert guard["result"].startswith("ran under: kill switch on: drill")


@pytest.mark.procedure("D8", "dry run: the report still goes out, nothing changed")
def test_dry_run_still_reports_and_changes_nothing(jobs: spec_mod.Spec) -> None:
    run = run_checks(jobs, world(), dry_run=True)
    report = run.report()
    assert report["switches"] == ["dry-run on: actions are recorded, not taken"]
    assert report["checks"]["old_access_keys"]["findings"]
    assert run.after == run.before


RUNBOOK = "001 Operações de Segurança: Verificações Diárias de Segurança"
#: The runbook's log group, with nothing in it: a clean day.
LOGS_ONLY = {"name": "/aws/lambda/lambda_router", "lines": []}


@pytest.mark.procedure(
    "D8",
    "many findings: the page shows maxFindings per check and counts the rest; "
    "the whole report kept in S3",
)
def test_many_findings_are_capped_in_the_page_and_kept_whole_in_s3(jobs: spec_mod.Spec) -> None:
    """120 inline policies put on the role in the day (three pages of LookupEvents): the
    page shows `maxFindings`, counts the rest, carries the text once and stays small; the
    whole report, every change, is in the reports bucket where the page says."""
    many = [
        {"event": "PutRolePolicy", "roleName": ROLE, "policy": f"p{i:03}", "ageHours": 5 - i / 60}
        for i in range(120)
    ]
    run = run_checks(jobs, world(policyChanges=many))
    limit = sc.settings().maxFindings
    iam = run.report()["checks"]["iam_policy_changes"]
    assert len(iam["findings"]) == limit and iam["omitted"] == 120 - limit
    assert "IAM policy changes (CloudTrail): 120" in run.report()["summary"]
    assert f"    ... and {120 - limit} more (not shown here)" in run.text()
    [page] = run.pages("security")
    assert len(json.dumps(page["message"]).encode()) < 60_000  # far under SNS's 256 KB
    assert run.kept is not None
    assert (
        run.report()["fullReport"].startswith("s3://") and run.report()["fullReport"] in run.text()
    )
    whole = run.kept["checks"]["iam_policy_changes"]
    assert sorted(f["policy"] for f in whole["findings"]) == [f"p{i:03}" for i in range(120)]
    assert whole["omitted"] == 0


@pytest.mark.procedure(
    "D8",
    "the window ends 15 min before the scheduled time: "
    "a change delivered late is read the next day",
)
def test_the_window_ends_15_minutes_early_so_late_events_are_read_next_day(
    jobs: spec_mod.Spec,
) -> None:
    """CloudTrail and CloudWatch Logs deliver minutes late: a change 24 h 10 min before the
    check (after yesterday's window ended) is in today's report; one 10 minutes before the
    check is left for tomorrow's, by then delivered."""
    run = run_checks(
        jobs,
        world(
            policyChanges=[
                {
                    "event": "PutRolePolicy",
                    "roleName": ROLE,
                    "policy": "late",
                    "ageHours": 24 + 1 / 6,
                },
                {"event": "PutRolePolicy", "roleName": ROLE, "policy": "fresh", "ageHours": 1 / 6},
            ]
        ),
    )
    found = run.report()["checks"]["iam_policy_changes"]["findings"]
    assert [f["policy"] for f in found] == ["late"]


@pytest.fixture
def lookups() -> Iterator[list[dict[str, Any]]]:
    """The LookupAttributes of every LookupEvents call the functions make."""
    from selfheal_shared.core import clients

    seen: list[dict[str, Any]] = []

    def observe(made: Any) -> None:
        def note(params: dict[str, Any], **_: Any) -> None:
            seen.append(dict(params))

        made.meta.events.register("provide-client-params.cloudtrail.LookupEvents", note)

    clients.observers.append(observe)
    clients.reset()
    try:
        yield seen
    finally:
        clients.observers.remove(observe)
        clients.reset()


@pytest.mark.procedure(
    "D8", "looked up by event name (the runbook's form), one lookup per configured call"
)
def test_policy_changes_are_looked_up_by_event_name(
    jobs: spec_mod.Spec, lookups: list[dict[str, Any]]
) -> None:
    """The runbook's lookup (`AttributeKey=EventName`), one per configured call: never by
    event source, which pages through every IAM read too (the scan's own ListUsers)."""
    run = run_checks(jobs, world())
    assert run.report()["checks"]["iam_policy_changes"]["findings"]
    keys = {a["AttributeKey"] for call in lookups for a in call["LookupAttributes"]}
    names = {a["AttributeValue"] for call in lookups for a in call["LookupAttributes"]}
    assert keys == {"EventName"}
    assert names == set(sc.settings().policyEvents)


@pytest.mark.procedure(
    "D8",
    "PutUserPolicy reported; a call IAM refused (errorCode) reported as an attempt, not a change",
)
def test_put_user_policy_is_reported_and_a_refused_call_is_an_attempt(
    jobs: spec_mod.Spec,
) -> None:
    """The runbook's own event (PutUserPolicy) is reported; an AttachRolePolicy IAM refused
    (AccessDenied in CloudTrail's errorCode) is reported as an attempt, never a change."""
    run = run_checks(
        jobs,
        world(
            policyChanges=[
                {
                    "event": "PutUserPolicy",
                    "userName": "etl-bot",
                    "policy": "s3-all",
                    "ageHours": 4,
                },
                {
                    "event": "AttachRolePolicy",
                    "roleName": ROLE,
                    "policy": ADMIN,
                    "ageHours": 2,
                    "refusedWith": "AccessDenied",
                },
            ]
        ),
    )
    put, refused = run.report()["checks"]["iam_policy_changes"]["findings"]
    assert (put["event"], put["target"], put["policy"], put["refused"]) == (
        "PutUserPolicy",
        "user etl-bot",
        "s3-all",
        "",
    )
    assert refused["event"] == "AttachRolePolicy" and refused["refused"] == "AccessDenied"
    [attempt] = [ln for ln in run.text().splitlines() if "AttachRolePolicy" in ln]
    assert attempt.endswith("attempted, refused (AccessDenied); nothing changed")
    assert run.after["attached"] == []  # indeed nothing attached


def _manual(payload: dict[str, Any]) -> Callable[[Pipeline], str]:
    def start(p: Pipeline) -> str:
        p.clock.advance_to(CHECK.astimezone(UTC))
        return p.start_manual("security_checks", payload)

    return start


@pytest.mark.procedure(
    "D8",
    "a scheduled time in the future, past CloudTrail's 90 days, or on a manual start: "
    "refused, escalated",
)
@pytest.mark.parametrize(
    ("payload", "said"),
    [
        ({"trigger": "schedule", "scheduledTime": "2999-01-01T10:00:00Z"}, "in the future"),
        ({"trigger": "schedule", "scheduledTime": "2026-11-01T10:00:00Z"}, "too old"),
        ({"trigger": "manual", "scheduledTime": "2027-03-09T10:00:00Z"}, "only a scheduled run"),
    ],
)
def test_a_scheduled_time_that_would_make_an_untrue_report_is_refused(
    jobs: spec_mod.Spec, payload: dict[str, Any], said: str
) -> None:
    """A future time (a window not yet lived), one past CloudTrail's 90 days, or a time on a
    manual start (which reads up to now): refused, naming the field, to the security
    contact and L1; nothing reported as checked."""
    run = run_checks(jobs, world(), start=_manual(payload))
    assert run.summary["status"] == "FAILED" and "EscalateFailure" in run.summary["states"]
    [page] = run.pages("security")
    assert "InputInvalid" in page["message"]["reason"]
    assert "scheduledTime" in page["message"]["reason"] and said in page["message"]["reason"]
    assert run.pages("l1")
    assert not [r for r in run.audit if r["action"] == "iam_policy_changes"]


def _slow_down_s3(made: Any) -> None:
    """S3 answering SlowDown to every PutObject, past the workflow's retries."""

    def refuse(model: Any, **_: Any) -> None:
        raise ClientError(
            {
                "Error": {"Code": "SlowDown", "Message": "Please reduce your request rate."},
                "ResponseMetadata": {"HTTPStatusCode": 503},
            },
            "PutObject",
        )

    made.meta.events.register("before-parameter-build.s3.PutObject", refuse)


@pytest.fixture
def s3_slows_down() -> Iterator[None]:
    from selfheal_shared.core import clients

    clients.observers.append(_slow_down_s3)
    clients.reset()
    try:
        yield
    finally:
        clients.observers.remove(_slow_down_s3)
        clients.reset()


@pytest.mark.procedure(
    "D8", "the scan itself failed: the security contact and L1 told, under the scan's incident"
)
def test_a_scan_that_fails_is_told_to_the_security_contact_under_its_incident(
    jobs: spec_mod.Spec, s3_slows_down: None
) -> None:
    """The scan itself fails (keeping the whole report, throttled past its retries, after
    the checks ran and were recorded): no report, so the security contact (not only L1/L2)
    is told, under the incident the scan recorded its reads in."""
    run = run_checks(jobs, world())
    assert run.summary["status"] == "FAILED" and "EscalateFailure" in run.summary["states"]
    [page] = run.pages("security")
    assert page["message"]["outcome"] == "FAILED" and "SlowDown" in page["message"]["reason"]
    assert run.pages("l1")
    scan_ids = {r["incidentId"] for r in run.audit if r["action"] == "old_access_keys"}
    assert scan_ids == {page["message"]["incidentId"]}
    assert f"Runbook: {RUNBOOK}" in run.emails["security"][0]


@pytest.mark.procedure(
    "D8", "a log group missing (ResourceNotFound): reported as not run, escalated"
)
def test_a_missing_log_group_is_reported_as_not_run(jobs: spec_mod.Spec) -> None:
    run = run_checks(jobs, world(logGroups=[]))
    assert run.summary["status"] == "FAILED" and "EscalateNotRun" in run.summary["states"]
    logs = run.report()["checks"]["security_logs"]
    assert logs["ran"] is False and logs["error"].startswith("ResourceNotFoundException")
    assert run.report()["notRun"] == ["security_logs"]
    assert "SECURITY log lines: DID NOT RUN (ResourceNotFoundException" in run.text()


@pytest.mark.procedure(
    "D8", "the e-mail read: runbook 001 named, the findings, where the whole report is kept"
)
def test_the_e_mails_name_the_runbook_and_carry_the_report(
    findings_day: Run, jobs: spec_mod.Spec
) -> None:
    """What the security contact reads: the e-mail SNS was given, opened here."""
    [mail] = findings_day.emails["security"]
    assert f"Runbook: {RUNBOOK}" in mail
    assert (
        "access keys older than 90 days or of the root user: 1" in mail
        and "etl-bot key AKIA…" in mail
    )
    assert "Full report: s3://" in mail and TOKEN not in mail
    clean = run_checks(
        jobs,
        world(
            users=[],
            policyChanges=[],
            securityGroups=[],
            logGroups=[LOGS_ONLY],
        ),
    )
    [mail] = clean.emails["security"]
    assert f"Runbook: {RUNBOOK}" in mail
    assert "nothing found in the last 24 h: every check ran" in mail


def _lose_first_answer(p: Pipeline, function: str) -> None:
    """`function` does its work (the page goes out) and its answer is lost once: Step
    Functions sees the task fail (a Lambda service error, a timeout) and retries it."""
    from selfheal_shared.core.errors import Transient

    lambdas: Any = p.lambdas
    [(name, (spec, handler))] = [
        (n, e) for n, e in lambdas._handlers.items() if e[0].name == function
    ]
    lost: list[bool] = []

    def answer_lost(event: dict[str, Any], context: Any) -> Any:
        out = handler(event, context)
        if not lost:
            lost.append(True)
            raise Transient("the answer was lost after the page went out")
        return out

    lambdas._handlers[name] = (spec, answer_lost)


@pytest.mark.procedure("D8", "the report's page retried after it went out: sent once")
@pytest.mark.parametrize("clean", [False, True], ids=["findings", "clean_day"])
def test_a_retried_report_publish_sends_one_report(jobs: spec_mod.Spec, clean: bool) -> None:
    """The report went out and its answer was lost; the retry finds it sent (the audit
    trail keeps the effect's key per execution and outcome) and sends nothing again."""
    spec = (
        world(users=[], policyChanges=[], securityGroups=[], logGroups=[LOGS_ONLY])
        if clean
        else world()
    )
    function = "notify" if clean else "escalate"
    run = run_checks(jobs, spec, before_fire=lambda p: _lose_first_answer(p, function))
    retried = [s for s in run.summary["states"] if s in ("NotifyNothingFound", "EscalateFindings")]
    assert retried  # the step ran (and was retried: its first answer was lost)
    assert len(run.pages("security")) == 1
    assert len(run.emails["security"]) == 1
    assert run.summary["status"] == ("SUCCEEDED" if clean else "FAILED")


@pytest.mark.procedure("D8", "an expected open rule (configured): listed, not escalated")
def test_an_expected_open_rule_is_listed_and_not_escalated(
    jobs: spec_mod.Spec, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The public API's 443 open to ::/0 is the platform's design (configured in
    `expectedOpen`): the daily report lists it, with why, and does not page anyone for it;
    the bastion's 22 stays a finding."""
    why = "the public API's load balancer"
    expected = sc.ExpectedOpen(groupName="ons-data-platform-api", ports="443", why=why)
    monkeypatch.setattr(
        sc,
        "settings",
        lambda: sc.Settings.model_validate(
            json.loads(sc.CONFIG.read_text()) | {"expectedOpen": [expected.model_dump()]}
        ),
    )
    groups = [{"name": "ons-data-platform-api", "ingress": [{"port": 443, "cidr": "::/0"}]}]
    run = run_checks(
        jobs, world(users=[], policyChanges=[], securityGroups=groups, logGroups=[LOGS_ONLY])
    )
    assert run.summary["status"] == "SUCCEEDED"
    [page] = run.pages("security")
    assert page["message"]["outcome"] == "NO_ACTION_NEEDED"
    assert run.report()["summary"] == (
        "nothing unexpected found in the last 24 h: every check ran; "
        "1 expected open rule(s) listed, not escalated"
    )
    assert f"port 443 open to ::/0 (expected: {why})" in run.text()
    assert not run.pages("l1")


@pytest.mark.procedure("D8", "a new access key of the last 24 h reported with the policy changes")
def test_a_new_access_key_is_reported_with_the_iam_changes(jobs: spec_mod.Spec) -> None:
    """What a principal may do changes with its credentials too: a key created 2.4 hours
    before the check (CreateAccessKey in CloudTrail) is among the IAM changes."""
    run = run_checks(
        jobs,
        world(users=[{"userName": "analyst", "keys": [{"ageDays": 0.1}]}], policyChanges=[]),
    )
    [made] = run.report()["checks"]["iam_policy_changes"]["findings"]
    assert (made["event"], made["target"]) == ("CreateAccessKey", "user analyst")


@pytest.mark.procedure("D8", "a root user access key (any age) reported with the old keys")
def test_a_root_user_access_key_is_reported(jobs: spec_mod.Spec) -> None:
    """ListAccessKeys never shows the root user's key; GetAccountSummary says one exists."""
    from moto.iam.models import iam_backends

    def root_key(p: Pipeline) -> None:
        iam_backends[ACCOUNT]["global"].account_summary._account_access_keys_present = 1

    run = run_checks(jobs, world(), before_fire=root_key)
    found = run.report()["checks"]["old_access_keys"]["findings"]
    assert [f["user"] for f in found] == ["root", "etl-bot"]
    assert "the root user has an access key (AWS advises none): remove it" in run.text()


@pytest.mark.procedure(
    "D8", "the internet split in halves (0.0.0.0/1 + 128.0.0.0/1) reported as open"
)
def test_the_internet_split_in_two_ranges_is_reported_open(jobs: spec_mod.Spec) -> None:
    halves = [{"port": 22, "cidr": "0.0.0.0/1"}, {"port": 22, "cidr": "128.0.0.0/1"}]
    groups = [
        {"name": "ons-data-platform-bastion", "ingress": halves},
        {"name": "ons-data-platform-db", "ingress": [{"port": 5432, "cidr": "10.0.0.0/8"}]},
    ]
    run = run_checks(jobs, world(securityGroups=groups))
    found = run.report()["checks"]["open_security_groups"]["findings"]
    assert sorted((f["groupName"], f["source"]) for f in found) == [
        ("ons-data-platform-bastion", "0.0.0.0/1"),
        ("ons-data-platform-bastion", "128.0.0.0/1"),
    ]
