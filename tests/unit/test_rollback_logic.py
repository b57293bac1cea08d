"""Pure decision logic of the 5xx rollback (selfheal_shared.deploy.rollback), the models' parse
helper and the AWS time parser. No AWS, no pipeline: these run in milliseconds."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from selfheal_shared.core.alarm_event import AlarmStateChangeEvent
from selfheal_shared.core.clock import parse_aws_time
from selfheal_shared.core.errors import InputInvalid
from selfheal_shared.core.models import parse
from selfheal_shared.deploy import rollback
from selfheal_shared.deploy.incident import Deployment, FeatureFlags, Incident

SAMPLE = (
    Path(__file__).resolve().parents[2]
    / "events"
    / "samples"
    / "rollback_on_5xx.lambda_errors_alarm.json"
)
NOW = datetime(2026, 11, 20, 3, 12, tzinfo=UTC)


def raw_alarm() -> dict[str, Any]:
    return json.loads(SAMPLE.read_text())


def alarm(raw: dict[str, Any] | None = None) -> AlarmStateChangeEvent:
    return parse(AlarmStateChangeEvent, raw if raw is not None else raw_alarm(), "alarm")


def with_dimensions(dimensions: dict[str, str]) -> AlarmStateChangeEvent:
    raw = raw_alarm()
    raw["detail"]["configuration"]["metrics"][0]["metricStat"]["metric"]["dimensions"] = dimensions
    return alarm(raw)


# -- previous_version -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("versions", "current", "expected"),
    [
        (["$LATEST", "1", "2", "3"], "3", "2"),
        (["$LATEST", "1", "4", "7"], "7", "4"),  # gaps: the newest older one, not current-1
        (["10", "2", "9", "$LATEST"], "10", "9"),  # numeric order, not string order
        (["1", "2", "3"], "2", "1"),  # a newer version than current is never chosen
        (["$LATEST", "beta", "1"], "2", "1"),  # non-numeric entries ignored
        (["1", "2"], "5", "2"),  # current not listed: still the newest older one
    ],
)
def test_previous_version_finds_newest_older_published(
    versions: list[str], current: str, expected: str
) -> None:
    assert rollback.previous_version(versions, current) == expected


@pytest.mark.parametrize(
    ("versions", "current"),
    [
        (["$LATEST", "1", "2"], "$LATEST"),  # never from/to $LATEST
        (["$LATEST", "1", "2"], "prod"),  # non-numeric current
        (["$LATEST", "1", "2"], "1"),  # first version: nothing older
        (["$LATEST"], "1"),  # only $LATEST older: never $LATEST
        ([], "3"),
    ],
)
def test_previous_version_none_when_nothing_older(versions: list[str], current: str) -> None:
    assert rollback.previous_version(versions, current) is None


# -- alias_deployment -------------------------------------------------------------------


def deployment(current: str, versions: list[str], age: timedelta, hours: int = 24) -> Deployment:
    """`age`: how long ago CloudTrail says the alias was moved to `current`."""
    return rollback.alias_deployment(
        current=current, versions=versions, changed_at=NOW - age, now=NOW, recent_hours=hours
    )


def test_no_alias_change_in_cloudtrail_is_not_a_recent_deployment() -> None:
    """The version's publish time is not asked: without the alias change in the window
    (an alias has no timestamp; CloudTrail is where AWS records its changes), no rollback."""
    dep = rollback.alias_deployment(
        current="3", versions=["1", "2", "3"], changed_at=None, now=NOW, recent_hours=24
    )

    assert dep.kind == "none"
    assert "no change of the alias to version 3 in CloudTrail in the last 24 h" in dep.reason


@pytest.mark.parametrize("age", [timedelta(0), timedelta(minutes=5), timedelta(hours=24)])
def test_recent_alias_move_is_rolled_back_to_previous(age: timedelta) -> None:
    dep = deployment("3", ["$LATEST", "1", "2", "3"], age)

    assert dep.kind == "alias"
    assert (dep.fromVersion, dep.toVersion) == ("3", "2")
    assert dep.deploymentId is None
    assert f"{int(age.total_seconds() // 60)} min ago" in dep.reason


@pytest.mark.parametrize(
    ("age", "hours"), [(timedelta(hours=24, seconds=1), 24), (timedelta(hours=3), 2)]
)
def test_old_alias_move_is_not_a_deployment_and_says_the_window(age: timedelta, hours: int) -> None:
    dep = deployment("3", ["$LATEST", "1", "2", "3"], age, hours)

    assert dep.kind == "none"
    assert dep.fromVersion is None and dep.toVersion is None
    assert f"window {hours} h" in dep.reason
    assert "version 3" in dep.reason


def test_version_stamped_slightly_in_the_future_reads_as_just_now() -> None:
    """Clock skew (or the local runtime's virtual clock starting before moto stamps the
    version) must not produce "moved ... -1 min ago" in a reason people read."""
    dep = deployment("3", ["$LATEST", "1", "2", "3"], timedelta(seconds=-30))

    assert dep.kind == "alias"
    assert "-" not in dep.reason.split("version 3", 1)[1]
    assert "0 min ago" in dep.reason


def test_alias_on_latest_has_nothing_to_return_to() -> None:
    dep = deployment("$LATEST", ["$LATEST", "1", "2"], timedelta(minutes=1))

    assert dep.kind == "none"
    assert "$LATEST" in dep.reason
    assert dep.toVersion is None


def test_first_version_has_no_earlier_version() -> None:
    dep = deployment("1", ["$LATEST", "1"], timedelta(minutes=1))

    assert dep.kind == "none"
    assert "no earlier published version" in dep.reason
    assert dep.toVersion is None


# -- feature_flags ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "tags",
    [
        {},
        {rollback.TAG_APPCONFIG: "app/env/profile"},  # location but no flags
        {rollback.TAG_FLAGS: "new_checkout"},  # flags but no location
        {rollback.TAG_APPCONFIG: "app/env/profile", rollback.TAG_FLAGS: "   "},
        {"selfheal:managed": "true"},
    ],
)
def test_feature_flags_none_without_both_tags(tags: dict[str, str]) -> None:
    assert rollback.feature_flags(tags) is None


@pytest.mark.parametrize("location", ["app/env", "app//profile", "app/env/profile/extra", "/e/p"])
def test_malformed_appconfig_tag_names_the_tag(location: str) -> None:
    tags = {rollback.TAG_APPCONFIG: location, rollback.TAG_FLAGS: "new_checkout"}

    with pytest.raises(InputInvalid, match="selfheal:appconfig") as err:
        rollback.feature_flags(tags)
    assert repr(location) in str(err.value)


def test_feature_flags_from_tags() -> None:
    ff = rollback.feature_flags(
        {rollback.TAG_APPCONFIG: "orders/prod/flags", rollback.TAG_FLAGS: "new_checkout  beta_ui"}
    )

    assert ff == FeatureFlags(
        application="orders",
        environment="prod",
        profile="flags",
        flags=["new_checkout", "beta_ui"],
    )
    assert ff.strategy == "AppConfig.AllAtOnce"


# -- disable_flags ------------------------------------------------------------------------


def flag_document() -> dict[str, Any]:
    return {
        "version": "1",
        "flags": {n: {"name": n} for n in ("on_a", "off_b", "on_c")},
        "values": {
            "on_a": {"enabled": True},
            "off_b": {"enabled": False},
            "on_c": {"enabled": True},
        },
    }


def test_disable_flags_turns_off_only_named_enabled_flags() -> None:
    doc, changed = rollback.disable_flags(flag_document(), ["on_a", "off_b", "unknown"])

    assert changed == ["on_a"]
    assert doc["values"]["on_a"] == {"enabled": False}
    assert doc["values"]["off_b"] == {"enabled": False}
    assert doc["values"]["on_c"] == {"enabled": True}, "a flag not named is untouched"


def test_disable_flags_never_invents_an_unknown_flag() -> None:
    doc, changed = rollback.disable_flags(flag_document(), ["unknown"])

    assert changed == []
    assert "unknown" not in doc["flags"]
    assert "unknown" not in doc["values"]
    assert doc == flag_document()


def test_disable_flags_is_a_no_op_when_already_off() -> None:
    doc, _ = rollback.disable_flags(flag_document(), ["on_a", "on_c"])
    again, changed = rollback.disable_flags(copy.deepcopy(doc), ["on_a", "on_c"])

    assert changed == []
    assert again == doc


def test_disable_flags_returns_changes_in_the_order_asked() -> None:
    _, changed = rollback.disable_flags(flag_document(), ["on_c", "on_a"])

    assert changed == ["on_c", "on_a"]


def test_disable_flags_on_a_known_flag_without_value_changes_nothing() -> None:
    doc = {"flags": {"quiet": {"name": "quiet"}}}

    _, changed = rollback.disable_flags(doc, ["quiet"])

    assert changed == []
    assert doc.get("values", {}).get("quiet", {}).get("enabled", False) is False


# -- incident_id --------------------------------------------------------------------------


def test_incident_id_is_stable_for_the_same_transition() -> None:
    first = raw_alarm()
    redelivered = copy.deepcopy(first)
    redelivered["id"] = "another-delivery-id"  # EventBridge at-least-once delivery
    redelivered["time"] = "2026-11-20T03:12:07Z"

    a, b = rollback.incident_id(alarm(first)), rollback.incident_id(alarm(redelivered))

    assert a == b
    assert a.startswith(f"{rollback.AUTOMATION}-")


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("detail", "state", "timestamp"), "2026-11-20T03:42:00.000+0000"),
        (("detail", "alarmName"), "billing-api-errors"),
        (("account",), "210987654321"),
        (("region",), "eu-west-1"),
    ],
)
def test_incident_id_differs_for_another_transition(path: tuple[str, ...], value: str) -> None:
    other = raw_alarm()
    node = other
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value

    assert rollback.incident_id(alarm(other)) != rollback.incident_id(alarm())


# -- function_name / alias_for --------------------------------------------------------------


def test_function_name_from_the_metric_dimension() -> None:
    assert rollback.function_name(alarm()) == "orders-api"


@pytest.mark.parametrize("dimensions", [{}, {"Resource": "orders-api:live"}, {"FunctionName": " "}])
def test_function_name_missing_names_the_dimension(dimensions: dict[str, str]) -> None:
    with pytest.raises(InputInvalid, match="FunctionName"):
        rollback.function_name(with_dimensions(dimensions))


@pytest.mark.parametrize("state", ["OK", "INSUFFICIENT_DATA"])
def test_function_name_refuses_a_non_alarm_state(state: str) -> None:
    raw = raw_alarm()
    raw["detail"]["state"]["value"] = state

    with pytest.raises(InputInvalid, match=r"detail\.state\.value") as err:
        rollback.function_name(alarm(raw))
    assert state in str(err.value)


@pytest.mark.parametrize("name", ["orders-*", "*", "orders-ap?", "orders-api,billing-api", "a b"])
def test_function_name_refuses_wildcards_and_lists(name: str) -> None:
    with pytest.raises(InputInvalid, match="FunctionName"):
        rollback.function_name(with_dimensions({"FunctionName": name}))


@pytest.mark.parametrize(
    ("dimensions", "tags", "expected"),
    [
        ({"FunctionName": "f", "Resource": "f:blue"}, {rollback.TAG_ALIAS: "green"}, "blue"),
        ({"FunctionName": "f", "Resource": "f"}, {rollback.TAG_ALIAS: "green"}, "green"),
        ({"FunctionName": "f"}, {}, rollback.DEFAULT_ALIAS),
    ],
)
def test_alias_for_prefers_resource_dimension_then_tag(
    dimensions: dict[str, str], tags: dict[str, str], expected: str
) -> None:
    assert rollback.alias_for(with_dimensions(dimensions), tags) == expected


# -- models.parse ---------------------------------------------------------------------------


def _drop(raw: dict[str, Any], *path: str | int) -> dict[str, Any]:
    node: Any = raw
    for key in path[:-1]:
        node = node[key]
    del node[path[-1]]
    return raw


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda r: _drop(r, "detail", "alarmName"), "detail.alarmName"),
        (lambda r: _drop(r, "detail", "state", "timestamp"), "detail.state.timestamp"),
        (
            lambda r: _drop(r, "detail", "configuration", "metrics", 0, "id"),
            "detail.configuration.metrics.0.id",
        ),
        (lambda r: {**r, "detail": "not a dict"}, "detail"),
        (lambda r: {**r, "detail": {**r["detail"], "alarmName": ""}}, "detail.alarmName"),
        (
            lambda r: {
                **r,
                "detail": {**r["detail"], "state": {**r["detail"]["state"], "value": "BROKEN"}},
            },
            "detail.state.value",
        ),
        (lambda r: _drop(r, "detail-type"), "detail-type"),
    ],
)
def test_parse_names_the_bad_field(mutate: Any, field: str) -> None:
    bad = mutate(raw_alarm())

    with pytest.raises(InputInvalid) as err:
        parse(AlarmStateChangeEvent, bad, "CloudWatch alarm event")

    message = str(err.value)
    assert message.startswith("invalid CloudWatch alarm event: ")
    assert f"{field}: " in message


def test_parse_names_every_bad_field() -> None:
    bad = raw_alarm()
    del bad["detail"]["alarmName"]
    del bad["detail"]["configuration"]

    with pytest.raises(InputInvalid) as err:
        parse(AlarmStateChangeEvent, bad, "alarm")

    assert "detail.alarmName" in str(err.value)
    assert "detail.configuration" in str(err.value)


def test_parse_rejects_a_non_object_at_the_root() -> None:
    with pytest.raises(InputInvalid, match="<root>"):
        parse(AlarmStateChangeEvent, ["not", "an", "event"], "alarm")


def test_incident_forbids_unknown_fields() -> None:
    incident = {
        "incidentId": "i",
        "executionId": "e",
        "automation": "a",
        "alarmName": "n",
        "functionName": "f",
        "alias": "live",
        "detectedAt": "t",
        "deployment": {"kind": "none"},
        "surprise": 1,
    }

    with pytest.raises(InputInvalid, match="surprise"):
        parse(Incident, incident, "incident")


def test_parse_returns_the_model() -> None:
    event = alarm()

    assert event.detail.alarmName == "orders-api-errors"
    assert event.metric_dimensions() == {
        "FunctionName": "orders-api",
        "Resource": "orders-api:live",
    }


# -- clock.parse_aws_time -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-11-22T02:16:46.462747000Z", datetime(2026, 11, 22, 2, 16, 46, 462747, tzinfo=UTC)),
        ("2019-10-26T18:10:55.123+0000", datetime(2019, 10, 26, 18, 10, 55, 123000, tzinfo=UTC)),
        ("2026-01-01T00:00:00Z", datetime(2026, 1, 1, tzinfo=UTC)),
        ("2026-01-01T03:00:00+0300", datetime(2026, 1, 1, tzinfo=UTC)),
        ("2026-01-01T00:00:00", datetime(2026, 1, 1, tzinfo=UTC)),  # naive means UTC
        (" 2026-01-01T00:00:00.5Z ", datetime(2026, 1, 1, 0, 0, 0, 500000, tzinfo=UTC)),
    ],
)
def test_parse_aws_time(text: str, expected: datetime) -> None:
    parsed = parse_aws_time(text)

    assert parsed == expected
    assert parsed.tzinfo is not None


def test_parse_aws_time_keeps_the_offset() -> None:
    parsed = parse_aws_time("2019-10-26T18:10:55.123-0300")

    assert parsed.utcoffset() == timedelta(hours=-3)
    assert parsed == datetime(2019, 10, 26, 21, 10, 55, 123000, tzinfo=UTC)
    assert parsed.tzinfo == timezone(timedelta(hours=-3))


# -- diagnose: which branch of the runbook the evidence picks ---------------------------------

RECENT = Deployment(kind="alias", fromVersion="3", toVersion="2", reason="alias moved 5 min ago")
OLD = Deployment(kind="none", reason="version 3 went live 30.0 h ago")
FLAGS = FeatureFlags(application="a", environment="e", profile="p", flags=["new_checkout"])


@pytest.mark.parametrize(
    ("deployment", "flags", "first", "then"),
    [
        (RECENT, FLAGS, "rollback", "disable_flags"),  # "1. Verificar implantações recentes"
        (RECENT, None, "rollback", "none"),
        (OLD, FLAGS, "disable_flags", "none"),  # "2. Se problema de configuração"
        (OLD, None, "none", "none"),
    ],
    ids=["both", "deployment-only", "configuration-only", "neither"],
)
def test_diagnose_follows_the_runbook_order(
    deployment: Deployment, flags: FeatureFlags | None, first: str, then: str
) -> None:
    d = rollback.diagnose(deployment, flags)

    assert (d.first, d.then) == (first, then)
    assert deployment.reason in d.deployment, "the record says which evidence chose it"
    assert ("new_checkout" in d.configuration) is (flags is not None)


def test_diagnose_neither_says_why_nothing_is_done() -> None:
    d = rollback.diagnose(OLD, None)

    assert d.summary.startswith("nothing to roll back or turn off: version 3 went live 30.0 h")
    assert "no configuration implicated" in d.summary


# -- composite alarm rules and API Gateway integrations -----------------------------------------


@pytest.mark.parametrize(
    ("rule", "children"),
    [
        ('ALARM("a") OR ALARM("b")', ["a", "b"]),
        ("ALARM(a) AND NOT OK(b)", ["a"]),  # OK(...) never points at a cause
        ('(ALARM("x y") OR ALARM(x-5xx)) AND ALARM("x y")', ["x y", "x-5xx"]),
        ("ALARM(arn:aws:cloudwatch:us-east-1:123456789012:alarm:c)", ["c"]),
        ("INSUFFICIENT_DATA(a) OR TRUE", []),
    ],
)
def test_alarm_rule_children_are_the_alarm_terms(rule: str, children: list[str]) -> None:
    assert rollback.alarm_rule_children(rule) == children


LAMBDA_URI = (
    "arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/"
    "arn:aws:lambda:us-east-1:123456789012:function:{fn}/invocations"
)


@pytest.mark.parametrize(
    ("fn", "variables", "expected"),
    [
        ("orders-api:live", {}, ("orders-api", "live")),
        ("orders-api", {}, ("orders-api", None)),
        ("orders-api:7", {}, ("orders-api", "7")),
        ("orders-api:${stageVariables.alias}", {"alias": "blue"}, ("orders-api", "blue")),
        ("${stageVariables.fn}:live", {"fn": "billing-api"}, ("billing-api", "live")),
    ],
)
def test_lambda_of_integration(
    fn: str, variables: dict[str, str], expected: tuple[str, str | None]
) -> None:
    assert rollback.lambda_of_integration(LAMBDA_URI.format(fn=fn), variables) == expected


def test_lambda_of_integration_names_a_missing_stage_variable() -> None:
    uri = LAMBDA_URI.format(fn="orders-api:${stageVariables.alias}")

    with pytest.raises(InputInvalid, match="stage variable\\(s\\) alias not set"):
        rollback.lambda_of_integration(uri, {})


def test_lambda_of_integration_refuses_a_non_lambda_uri() -> None:
    with pytest.raises(InputInvalid, match="does not invoke a Lambda function"):
        rollback.lambda_of_integration("https://backend.example/orders", {})


@pytest.mark.parametrize(
    ("namespace", "name", "dimensions", "kind"),
    [
        ("AWS/Lambda", "Errors", {"FunctionName": "f"}, "lambda"),
        ("AWS/ApiGateway", "5XXError", {"ApiName": "a", "Stage": "prod"}, "rest_api"),
        ("AWS/ApiGateway", "5xx", {"ApiId": "abc123"}, "http_api"),
        ("AWS/ApiGateway", "4XXError", {"ApiName": "a"}, None),
        ("AWS/Lambda", "Errors", {"ApiName": "a"}, None),
        ("AWS/Lambda", "Throttles", {"FunctionName": "f"}, None),
    ],
)
def test_d1_metric_kinds(
    namespace: str, name: str, dimensions: dict[str, str], kind: str | None
) -> None:
    assert rollback.d1_metric(namespace, name, dimensions) == kind
