"""2,000 seeded hostile variations of every sample event (issue 19, "Every failure caught"):
nothing crashes the door events enter by, nothing that enters a workflow and fails ends
FAILED without a page, and nothing acts on an alarm or an edge that does not exist.

All 2,000 go through the door (replay's rebase, PutEvents' checks, the rules,
StartExecution's checks, Claim's bound): about 5 s. A seeded subset of
`SELFHEAL_HOSTILE_EXECUTIONS` (200) runs as real executions, about a minute;
`SELFHEAL_HOSTILE_EXECUTIONS=2000` runs them all (about 8 minutes, by hand).
"""

from __future__ import annotations

import os
import random
from collections.abc import Iterator

import pytest
from selfheal_cdk import spec as spec_mod

from local.clock import DEFAULT_START
from local.runtime import Pipeline
from local.worlds import World
from tests.reliability import hostile_events, hostile_runs

COUNT = 2_000
EXECUTIONS = int(os.environ.get("SELFHEAL_HOSTILE_EXECUTIONS", "200"))
VARIATIONS = list(hostile_events.variations(COUNT))


def test_the_population_covers_every_sample_and_kind() -> None:
    """The figures below mean something only if every sample meets every kind."""
    pairs = {(v.sample, v.kind) for v in VARIATIONS}
    assert len(pairs) == len(hostile_events.samples()) * len(hostile_events.KINDS)
    again = list(hostile_events.variations(COUNT))
    assert [v.label for v in again] == [v.label for v in VARIATIONS], "seeded: the same 2,000"


def test_no_variation_crashes_the_door_and_none_out_of_bounds_is_claimed() -> None:
    door = hostile_runs.through_the_door(VARIATIONS, spec_mod.load().rules.values(), DEFAULT_START)
    print({f"{k} {o}": n for (k, o), n in sorted(door.outcomes.items())})

    assert door.crashes == []
    # Each door is used: refused by PutEvents, dead-lettered, refused by Claim, claimed.
    for outcome in ("refused", "dead letter", "refused by Claim", "claimed"):
        assert door.count(outcome) > 0, (outcome, door.outcomes)
    # What is out of bounds never reaches a remediator: NaN is no JSON (PutEvents), every
    # depth drawn is over Claim's 16, and the far dates are refused unless CloudWatch's text.
    assert door.outcomes[("non_finite", "claimed")] == 0
    assert door.outcomes[("deep", "claimed")] == 0
    far = [v for v in VARIATIONS if v.kind == "far_date" and _value(v) != CLOUDWATCH_TEXT]
    claimed = [v.label for v in far if door.of[v.n] == "claimed"]
    assert far and claimed == [], claimed[:5]


#: A date in CloudWatch's reason text: text, moved by rebase, never refused.
CLOUDWATCH_TEXT = "(31/12/99 23:59:59)"


def _value(v: hostile_events.Variation) -> object:
    node: object = v.event
    for key in v.path:
        node = node[key]  # type: ignore[index]
    return node


@pytest.fixture(scope="module")
def pipeline() -> Iterator[Pipeline]:
    """The demo world, every workflow, with the alarms and edges the samples name."""
    with Pipeline(world=World.load()) as p:
        yield p


def test_executed_variations_end_paged_and_act_only_on_real_targets(pipeline: Pipeline) -> None:
    chosen = sorted(random.Random(hostile_events.SEED).sample(range(COUNT), EXECUTIONS))
    result = hostile_runs.executed(pipeline, [VARIATIONS[n] for n in chosen])
    print(
        f"{len(result.runs)} variations: {dict(result.statuses)}, {result.refused} refused, "
        f"{len(result.crashes)} crashes, {len(result.unpaged)} unpaged, "
        f"{len(result.acted_on_nothing)} acted on nothing"
    )

    assert result.crashes == []
    assert result.unpaged == []
    assert result.acted_on_nothing == [], result.acted_on_nothing
    # Both halves are exercised: workflows failed (and paged), others succeeded or acted.
    assert result.statuses["FAILED"] > 0 and result.statuses["SUCCEEDED"] > 0, result.statuses
    assert result.refused > 0, "some variations were refused before any workflow"
