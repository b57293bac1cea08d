"""Each system's escalation ladder is its runbook's, from its policy file; a bad file is
refused naming the field; an acknowledged chain pages nobody more."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from selfheal_cdk.spec import TOPICS
from selfheal_shared.core import escalation_policy as ep


def _times(system: str, severity: str) -> list[tuple[str, int]]:
    return ep.load(system).schedule(severity)


def test_every_system_file_loads_and_pages_only_existing_topics() -> None:
    systems = ep.systems()
    assert systems == [
        "aupus-ingestion",
        "big-brother",
        "equivalence-engine",
        "lifo4-ems",
        "ons-data-platform",
    ]
    for system in systems:
        policy = ep.load(system)
        assert {lv.topic for lv in policy.levels.values()} <= set(TOPICS), system


def test_the_runbooks_ladders() -> None:
    # 000 §6: P1 respond < 15 min.
    assert _times("lifo4-ems", "P1") == [("l1", 0), ("l2", 15), ("l3", 30)]
    assert ep.load("lifo4-ems").severities["P4"].ticket == "ops"
    # 003 §8.1: L1 15min, L2 30min, L3 1h, L4 2h.
    assert _times("big-brother", "incident") == [("l1", 15), ("l2", 30), ("l3", 60), ("l4", 120)]
    assert ep.load("big-brother").levels["l4"].who == "Director"
    # 004: 0-30, 30-60, 60+.
    assert _times("aupus-ingestion", "incident") == [("l1", 0), ("l2", 30), ("l3", 60)]


@pytest.mark.parametrize(
    ("minutes", "paged", "acked", "want"),
    [
        (0, [], False, ep.Due("l1", None)),
        (5, ["l1"], False, ep.Due(None, 15.0)),
        (15, ["l1"], False, ep.Due("l2", None)),
        (40, ["l1"], False, ep.Due("l2", None)),  # late: one level at a time
        (40, ["l1", "l2", "l3"], False, ep.Due(None, None)),
        (20, ["l1"], True, ep.Due(None, None)),  # acknowledged at 10: no L2
    ],
)
def test_due_follows_the_schedule_until_acknowledged(
    minutes: float, paged: list[str], acked: bool, want: ep.Due
) -> None:
    assert ep.due(ep.load("lifo4-ems"), "P1", minutes, paged, acknowledged=acked) == want


def test_an_unknown_severity_is_named() -> None:
    with pytest.raises(ValueError, match="severity: 'P9' is not in lifo4-ems's policy"):
        ep.due(ep.load("lifo4-ems"), "P9", 0, [])


def _good() -> dict[str, Any]:
    return copy.deepcopy(ep.load("aupus-ingestion").model_dump(exclude_none=True))


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda d: d["severities"]["incident"]["pages"].update(l9=10), "pages.l9: unknown level"),
        (lambda d: d["severities"]["incident"]["pages"].update(l2=-5), "pages.l2"),
        (lambda d: d["levels"]["l1"].update(topic="pager"), "levels.l1"),
        (lambda d: d["levels"]["l1"].pop("who"), "levels.l1.who"),
        (lambda d: d.update(renotifyMinutes=30), "renotifyMinutes: Extra inputs"),
        (lambda d: d.update(extra=1), "extra"),
        (lambda d: d["severities"]["incident"].update(pages={}), "no ticket"),
        (lambda d: d.update(runbook="4"), "runbook"),
    ],
)
def test_a_bad_policy_is_refused_naming_the_field(change: Any, field: str) -> None:
    data = _good()
    change(data)
    with pytest.raises(ValueError, match=f"escalation policy x.json: .*{field}"):
        ep.parse(data, "x.json")
    assert ep.parse(_good(), "x.json") == ep.load("aupus-ingestion")
