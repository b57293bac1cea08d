"""Forced OTA's manual input (runbook 000 §2 `{version, targetEdgeIds, skipCanary, force}`):
an empty or wildcard target list, an unknown edge or a bad field fails the execution at once
naming the field, pages, and creates no IoT job."""

from __future__ import annotations

from typing import Any

import pytest

from local.runtime import Pipeline

GOOD = {"version": "1.2.0", "targetEdgeIds": ["edge-cps-001"], "skipCanary": True, "force": False}


@pytest.mark.procedure("E2", "manual execution with its input")
def test_empty_wildcard_or_unknown_targets_fail_naming_the_field(pipeline: Pipeline) -> None:
    """DESIGN.md "Empty or wildcard targets are errors, never 'all'"; the runbook names each
    edge (`"targetEdgeIds": ["edge-abc123", "edge-def456"]`)."""
    p = pipeline
    cases: dict[str, tuple[dict[str, Any], str]] = {
        "empty": ({**GOOD, "targetEdgeIds": []}, "targetEdgeIds"),
        "star": ({**GOOD, "targetEdgeIds": ["*"]}, "targetEdgeIds"),
        "mqtt wildcard": ({**GOOD, "targetEdgeIds": ["edge-cps-+"]}, "targetEdgeIds"),
        "all": ({**GOOD, "targetEdgeIds": ["all"]}, "targetEdgeIds"),
        "twice": ({**GOOD, "targetEdgeIds": ["edge-cps-001", "edge-cps-001"]}, "targetEdgeIds"),
        "unknown": (
            {**GOOD, "targetEdgeIds": ["edge-cps-001", "edge-nowhere-9"]},
            "edge-nowhere-9",
        ),
        "version": ({**GOOD, "version": "latest"}, "version"),
        "skipCanary": ({**GOOD, "skipCanary": "yes please"}, "skipCanary"),
        "extra": ({**GOOD, "targets": "*"}, "targets"),
    }
    arns = {name: p.start_manual("forced_ota", payload) for name, (payload, _) in cases.items()}
    p.wait(list(arns.values()), timeout=120)
    for name, arn in arns.items():
        run = p.execution_summary(arn)
        assert run["status"] == "FAILED", name
        assert run["states"] == ["Claim", "IsDuplicate", "Plan", "EscalateFailure", "Failed"], name
        why = next(a["why"] for a in run["actions"] if a["outcome"] == "FAILED")
        assert "InputInvalid" in why and cases[name][1] in why, (name, why)
        if name in ("star", "all"):
            assert "never 'all'" in why, why
    assert p.client("iot").list_jobs()["jobs"] == []
    pages = [n for n in p.notifications() if n["message"].get("automation") == "forced_ota"]
    assert {n["level"] for n in pages} >= {"l1"}
