"""Operator input through the `selfheal` command itself (issue 22, finding 16): a folder to
replay is replayed or refused saying what replay expects, never a traceback; a silence
scope that is a pattern and a kill switch without an operator are refused naming the
field, and nothing is written."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from local import cli
from tests.helpers import FIVE_XX, SAMPLES

GUARD_TABLE = "selfheal-guard-state-test"


@pytest.fixture
def guard_table(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A guard-state table in a mocked account, named for the operator commands."""
    from selfheal_shared.core import clients, config

    for name, value in {
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "SELFHEAL_TABLE_GUARD_STATE": GUARD_TABLE,
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        clients.reset()
        if hasattr(config.settings, "cache_clear"):
            config.settings.cache_clear()
        boto3.client("dynamodb").create_table(
            TableName=GUARD_TABLE,
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        yield GUARD_TABLE
        clients.reset()
        if hasattr(config.settings, "cache_clear"):
            config.settings.cache_clear()


def items(table: str) -> list[str]:
    return sorted(i["pk"]["S"] for i in boto3.client("dynamodb").scan(TableName=table)["Items"])


@pytest.mark.parametrize("scope", ["site:*", "*", "site:", "edge-*", "fleet*", ""])
def test_a_silence_on_a_pattern_is_refused_naming_the_scope(guard_table: str, scope: str) -> None:
    with pytest.raises(SystemExit) as refused:
        cli.main(["silence", scope, "--minutes", "30", "--reason", "manutenção"])

    message = str(refused.value.code)
    assert message.startswith("selfheal: silence refused: scope:"), message
    assert repr(scope) in message
    assert items(guard_table) == [], "nothing silenced"


def test_a_named_site_is_silenced(guard_table: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["silence", "site:site-campinas", "--minutes", "30", "--reason", "obra"]) == 0
    assert "site:site-campinas silenced until" in capsys.readouterr().out
    assert items(guard_table) == ["silence#site:site-campinas"]


@pytest.mark.parametrize(("operator", "reason", "field"), [("", "drill", "operator"),
                         ("   ", "drill", "operator"), ("ana", "", "reason")])  # fmt: skip
def test_the_kill_switch_without_an_operator_or_reason_is_refused_naming_it(
    guard_table: str, operator: str, reason: str, field: str
) -> None:
    with pytest.raises(SystemExit) as refused:
        cli.main(["kill-switch", "on", "--operator", operator, "--reason", reason])

    message = str(refused.value.code)
    assert message.startswith(f"selfheal: kill-switch refused: {field}: required"), message
    assert items(guard_table) == [], "the switch is not written"


def test_the_kill_switch_keeps_who_turned_it(guard_table: str) -> None:
    assert cli.main(["kill-switch", "on", "--operator", "ana", "--reason", "drill"]) == 0
    item = boto3.client("dynamodb").get_item(
        TableName=guard_table, Key={"pk": {"S": "kill-switch"}}
    )
    assert item["Item"]["actor"]["S"] == "ana" and item["Item"]["enabled"]["BOOL"] is True


def test_replaying_a_folder_without_events_says_what_replay_expects(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("not an event")
    with pytest.raises(SystemExit) as refused:
        cli.main(["replay", str(tmp_path)])

    message = str(refused.value.code)
    assert f"{tmp_path} holds no *.json file" in message
    assert "replay expects EventBridge event files" in message


def test_replaying_a_folder_replays_every_json_in_it_by_name(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    shutil.copy(FIVE_XX, tmp_path / "b_errors.json")
    shutil.copy(SAMPLES / "rollback_on_5xx.apigateway_5xx_alarm.json", tmp_path / "a_api.json")
    (tmp_path / "README.txt").write_text("ignored: not *.json")

    assert cli.main(["replay", str(tmp_path), "--json"]) == 0

    out = json.loads(capsys.readouterr().out)
    assert [e["workflow"] for e in out["executions"]] == ["rollback_on_5xx"] * 2, "each file"
