"""The pure decisions of cost hygiene (runbook 001 D6): what is deleted, what is kept and
why, how lifecycle rules merge."""

from __future__ import annotations

import json

import pytest
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
