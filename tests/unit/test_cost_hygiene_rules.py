"""The pure decisions of cost hygiene (runbook 001 D6): what is deleted, what is kept and
why, how lifecycle rules merge."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError
from selfheal_shared.platform import cost_hygiene as ch


def test_the_last_n_stay_and_protected_versions_stay_whatever_their_age() -> None:
    versions = ["$LATEST", *[str(n) for n in range(1, 11)]]
    delete, kept = ch.versions_to_delete(versions, 3, {"2": "behind alias live"})
    assert delete == ["1", "3", "4", "5", "6", "7"]  # numeric order, not "10" < "2"
    assert kept == {
        "2": "behind alias live",
        "8": "among the last 3",
        "9": "among the last 3",
        "10": "among the last 3",
    }


def test_fewer_versions_than_kept_deletes_nothing() -> None:
    assert ch.versions_to_delete(["$LATEST", "1", "2"], 5, {}) == (
        [],
        {"1": "among the last 5", "2": "among the last 5"},
    )


def test_an_appspec_names_current_and_target_and_garbage_is_refused() -> None:
    content = json.dumps(
        {
            "Resources": [
                {
                    "fn": {
                        "Type": "AWS::Lambda::Function",
                        "Properties": {"Name": "f", "CurrentVersion": "4", "TargetVersion": "5"},
                    }
                }
            ]
        }
    )
    assert ch.appspec_versions(content) == [("f", "4"), ("f", "5")]
    with pytest.raises(ValueError, match="unreadable"):
        ch.appspec_versions("version: 0.0\nResources: [")


def test_merge_keeps_other_rules_and_sees_no_change_in_a_rule_read_back_with_defaults() -> None:
    ours = {"ID": "tier", "Status": "Enabled", "Filter": {"Prefix": ""}}
    other = {"ID": "expire-tmp", "Status": "Enabled", "Expiration": {"Days": 7}}
    merged, changed = ch.merge_rules([other], [ours])
    assert merged == [other, ours] and changed == ["tier"]
    read_back = {**ours, "Filter": {"Prefix": "", "ObjectSizeGreaterThan": 0}}
    assert ch.merge_rules([other, read_back], [ours])[1] == []
    assert ch.merge_rules([{**ours, "Status": "Disabled"}], [ours])[1] == ["tier"]


def test_only_groups_without_retention_are_listed() -> None:
    groups = [
        {"logGroupName": "a"},
        {"logGroupName": "b", "retentionInDays": 7},
        {"logGroupName": "c", "retentionInDays": 3653},
    ]
    assert ch.without_retention(groups) == ["a"]


def test_the_configuration_keeps_five_and_sets_thirty_days() -> None:
    cfg = ch.config()
    assert cfg.lambdaVersions.keepLast == 5 and cfg.logGroups.retentionDays == 30
    assert cfg.lambdaVersions.functions == [
        "lambda_router",
        "structured_data_processor",
        "rag_query_processor",
        "influxdb_loader",
    ]


def test_a_yaml_appspec_is_read_like_a_json_one() -> None:
    """Review 2: AppSpecContent is YAML as often as JSON (an unquoted version is an int)."""
    content = (
        "version: 0.0\n"
        "Resources:\n"
        "  - fn:\n"
        "      Type: AWS::Lambda::Function\n"
        "      Properties:\n"
        "        Name: f\n"
        "        Alias: live\n"
        "        CurrentVersion: 4\n"
        "        TargetVersion: '5'\n"
    )
    assert ch.appspec_versions(content) == [("f", "4"), ("f", "5")]


@pytest.mark.parametrize("n", [0, -1])
def test_a_function_of_its_own_cannot_keep_fewer_than_one_version(n: int) -> None:
    """Review 15: 0 would delete every version, a negative N the oldest ones."""
    raw = ch.config().model_dump()
    raw["lambdaVersions"]["keepLastByFunction"] = {"lambda_router": n}
    with pytest.raises(ValidationError, match="greater than or equal to 1"):
        ch.CostConfig.model_validate(raw)


def test_the_configuration_caps_the_changes_of_one_run() -> None:
    assert ch.config().maxChangesPerRun == 100


class Pages:
    """A paginator over fixed pages, by the first request argument's value."""

    def __init__(self, pages: dict[str, list[dict[str, Any]]], key: str) -> None:
        self.pages, self.key = pages, key

    def paginate(self, **kw: Any) -> list[dict[str, Any]]:
        return self.pages[str(kw.get(self.key, ""))]


class CodeDeploy:
    """Deployment groups and deployments on two pages each; the newest deployment (finished,
    so no status filter finds it) is on the second page of ListDeployments, past 25."""

    def __init__(self) -> None:
        old = [f"d-{n:03}" for n in range(30)]
        self.infos = {
            d: {
                "deploymentId": d,
                "status": "Succeeded",
                "createTime": f"2026-01-{1 + n % 28:02}T00:00:{n:02}",
                "computePlatform": "Lambda",
                "revision": {"appSpecContent": {"content": _spec("f", str(n), str(n + 1))}},
            }
            for n, d in enumerate(old)
        }
        self.infos["d-new"] = {
            **self.infos["d-000"],
            "deploymentId": "d-new",
            "createTime": "2026-12-01T00:00:00",
            "revision": {"appSpecContent": {"content": _spec("f", "40", "41")}},
        }
        self.lists = {
            "list_applications": Pages({"": [{"applications": ["app"]}]}, ""),
            "list_deployment_groups": Pages(
                {"app": [{"deploymentGroups": ["g1"]}, {"deploymentGroups": ["g2"]}]},
                "applicationName",
            ),
            "list_deployments": Pages(
                {
                    "g1": [{"deployments": old[:25]}, {"deployments": [*old[25:], "d-new"]}],
                    "g2": [{"deployments": []}],
                },
                "deploymentGroupName",
            ),
        }

    def get_paginator(self, operation: str) -> Pages:
        return self.lists[operation]

    def list_deployment_groups(self, **kw: Any) -> dict[str, Any]:
        """One call: the first page only (and a token for the next)."""
        return {**self.lists["list_deployment_groups"].paginate(**kw)[0], "nextToken": "t"}

    def list_deployments(self, **kw: Any) -> dict[str, Any]:
        return {**self.lists["list_deployments"].paginate(**kw)[0], "nextToken": "t"}

    def get_deployment(self, deploymentId: str) -> dict[str, Any]:
        return {"deploymentInfo": self.infos[deploymentId]}


def _spec(fn: str, current: str, target: str) -> str:
    body = {"Name": fn, "CurrentVersion": current, "TargetVersion": target}
    return json.dumps({"Resources": [{fn: {"Properties": body}}]})


def test_every_page_of_groups_and_deployments_is_read_and_the_newest_found_over_all(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Review 3: the groups of every page are read, and the newest deployment of a group
    is found over its whole history (ListDeployments has no order), not its first 25."""
    from selfheal_shared.platform import cost_hygiene_aws as aws

    cd = CodeDeploy()
    monkeypatch.setattr(aws, "client", lambda service, **_: cd)
    kept, unreadable = aws.deployed()
    assert unreadable == []
    assert set(kept) == {("f", "40"), ("f", "41")}
    assert "d-new" in kept[("f", "40")]


def test_the_plan_role_reads_the_guard_state_and_writes_only_the_audit_trail() -> None:
    """Review 16: the plan only reads (the guards are the guard step's): its synthesized
    role (local/role_policies.json, checked against the CDK) writes no guard state."""
    root = Path(__file__).resolve().parents[2]
    role = json.loads((root / "local" / "role_policies.json").read_text())["functions"]
    writes = {"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem"}
    granted = {
        (resource.rsplit("${Table:", 1)[-1].rstrip("}"), action.split(":", 1)[1])
        for st in role["cost_hygiene_plan"]["statements"]
        for action in st["Action"]
        if action.startswith("dynamodb:")
        for resource in st["Resource"]
    }
    assert {a for t, a in granted if t == "guard_state"} & writes == set()
    assert ("guard_state", "GetItem") in granted and ("audit", "PutItem") in granted
