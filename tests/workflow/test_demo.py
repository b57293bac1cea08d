"""`selfheal demo` is reproducible: virtual time starts at a pinned instant, saved events
are placed on it, ids are seeded, and the timeline prints no wall-clock durations."""

from __future__ import annotations

import pytest

from local.cli import main


def test_demo_prints_the_same_timelines_on_every_run(capsys: pytest.CaptureFixture[str]) -> None:
    runs = []
    for _ in range(2):
        assert main(["demo"]) == 0
        runs.append(capsys.readouterr().out)

    assert runs[0] == runs[1]
    # The sample edge went offline "now" on the virtual clock, not on its capture date.
    assert "P2 edge-0042 offline 10 min" in runs[0]
    assert "=== edge controller goes silent" in runs[0] and "ms\n" not in runs[0]
