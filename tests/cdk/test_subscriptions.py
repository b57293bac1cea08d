"""Pages reach people only through subscriptions, and those come from deploy-time
configuration: the example file subscribes each level, no file subscribes nobody and says so."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from aws_cdk import App, Stack
from aws_cdk.assertions import Annotations, Match, Template
from cdk_synth import Synth
from selfheal_cdk.alerting import NOBODY, Alerting
from selfheal_cdk.spec import ROOT, TOPICS
from selfheal_cdk.stack import CTX_SUBSCRIPTIONS, DeploySettings
from selfheal_cdk.subscriptions import Subscriptions, load

EXAMPLE = ROOT / "config" / "subscriptions.example.json"


def _alerting(subscriptions: Subscriptions | None) -> Stack:
    stack = Stack(App(), "Pages")
    Alerting(stack, "Alerting", levels=TOPICS, subscriptions=subscriptions)
    return stack


def test_the_example_configuration_subscribes_every_level() -> None:
    example = load(EXAMPLE)
    stack = _alerting(example)
    template = Template.from_stack(stack)

    subs = template.find_resources("AWS::SNS::Subscription")
    assert len(subs) == example.count and example.count >= len(TOPICS)
    got = sorted((s["Properties"]["Protocol"], s["Properties"]["Endpoint"]) for s in subs.values())
    want = sorted((w.protocol, w.endpoint) for ws in example.levels.values() for w in ws)
    assert got == want
    template.has_resource_properties(
        "AWS::SNS::Subscription",
        {"Protocol": "sms", "Endpoint": "+15555550100", "TopicArn": Match.any_value()},
    )
    assert not Annotations.from_stack(stack).find_warning("*", Match.string_like_regexp("nobody"))


def test_a_subscriber_naming_severities_gets_a_filter_policy_on_them() -> None:
    template = Template.from_stack(_alerting(load(EXAMPLE)))
    subs = template.find_resources("AWS::SNS::Subscription")
    policies = {
        s["Properties"]["Endpoint"]: s["Properties"].get("FilterPolicy") for s in subs.values()
    }
    absent = {"exists": False}  # a notice that carries no severity still reaches them
    assert policies["+15555550100"] == {"severity": [absent, "P1", "SEV-1"]}
    assert policies["ops-oncall@example.com"] == {
        "severity": [absent, "P1", "P2", "SEV-1", "SEV-2"]
    }
    assert policies["https://global.sns-api.chatbot.amazonaws.com"] == {
        "severity": [absent, "P1", "P2", "P3", "SEV-1", "SEV-2", "SEV-3"]
    }
    # Who names no severities gets everything: no filter policy at all.
    assert policies["https://events.pagerduty.example/integration/l1/enqueue"] is None
    assert policies["engineering-oncall@example.com"] is None


def test_no_configuration_subscribes_nobody_and_warns_at_synth() -> None:
    stack = _alerting(None)
    assert Template.from_stack(stack).find_resources("AWS::SNS::Subscription") == {}
    Annotations.from_stack(stack).has_warning("*", Match.string_like_regexp("reaches nobody"))
    assert "reaches nobody" in NOBODY


def test_a_level_left_out_is_named_in_a_warning() -> None:
    only_l1 = Subscriptions.model_validate(
        {"levels": {"l1": [{"protocol": "email", "endpoint": "oncall@example.com"}]}}
    )
    stack = _alerting(only_l1)
    Annotations.from_stack(stack).has_warning("*", Match.string_like_regexp("'l2'"))


def test_the_project_synth_has_no_subscriptions_by_default(synth: Synth) -> None:
    resources = synth.template["Resources"].values()
    assert not [r for r in resources if r["Type"] == "AWS::SNS::Subscription"]


def test_the_context_names_the_file() -> None:
    app = App(context={CTX_SUBSCRIPTIONS: "config/subscriptions.example.json"})
    settings = DeploySettings.from_context(app)
    assert settings.subscriptions == load(EXAMPLE)
    with pytest.raises(ValueError, match="does not exist"):
        DeploySettings.from_context(App(context={CTX_SUBSCRIPTIONS: "config/nope.json"}))


@pytest.mark.parametrize(
    ("entry", "field"),
    [
        ({"l9": [{"protocol": "email", "endpoint": "a@example.com"}]}, "unknown topic level"),
        ({"l1": [{"protocol": "email", "endpoint": "not-an-address"}]}, "levels.l1.0"),
        ({"l1": [{"protocol": "sms", "endpoint": "5555550100"}]}, "not a valid sms endpoint"),
        ({"l1": [{"protocol": "https", "endpoint": "http://hook.example/x"}]}, "valid https"),
        ({"l1": [{"protocol": "lambda", "endpoint": "x"}]}, "levels.l1.0.protocol"),
        (
            {
                "l1": [
                    {"protocol": "email", "endpoint": "a@example.com", "rawMessageDelivery": True}
                ]
            },
            "https subscriptions only",
        ),
        ({"l1": [{"protocol": "email", "endpoint": "a@example.com", "phone": "x"}]}, "phone"),
        (
            {"l1": [{"protocol": "sms", "endpoint": "+15555550100", "severities": ["critical"]}]},
            r"levels.l1.0.severities: .*unknown severity\(ies\) \['critical'\]",
        ),
        (
            {"l1": [{"protocol": "sms", "endpoint": "+15555550100", "severities": []}]},
            "levels.l1.0.severities: .*empty",
        ),
    ],
)
def test_a_bad_entry_is_refused_naming_the_field(
    tmp_path: Path, entry: dict[str, Any], field: str
) -> None:
    path = tmp_path / "subs.json"
    path.write_text(json.dumps({"levels": entry}))
    with pytest.raises(ValueError, match=f"subs.json: .*{field}"):
        load(path)
