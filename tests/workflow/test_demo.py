"""`selfheal demo` is reproducible: virtual time starts at a pinned instant, saved events
are placed on it, ids are seeded, and the timeline prints no wall-clock durations. Its
numbers are true and each incident has one id in every line (issue 9, item 9)."""

from __future__ import annotations

import re

import pytest

from local.cli import main


def test_demo_prints_the_same_timelines_on_every_run(capsys: pytest.CaptureFixture[str]) -> None:
    runs = []
    for _ in range(2):
        assert main(["demo"]) == 0
        runs.append(capsys.readouterr().out)

    assert runs[0] == runs[1]
    # The sample edge went offline "now" on the virtual clock, not on its capture date.
    assert "P2 edge-cps-002 offline 10 min" in runs[0]
    assert "=== edge controller goes silent" in runs[0] and "ms\n" not in runs[0]
    check_numbers_and_ids(runs[0])


def check_numbers_and_ids(out: str) -> None:
    """No "offline 3245 min" for an outage minutes old; the gate, the answer to it and the
    incident's summary name the incident by the same id (the one `selfheal approve` takes)."""
    for timeline in out.split("Incident timeline")[1:]:
        for offset, minutes in re.findall(r"\+\s*(\d+):\d\d .* offline (\d+) min", timeline):
            assert int(minutes) <= int(offset), f"offline {minutes} min at +{offset} min"
        gates = re.findall(r"GATE .* for ([\w-]+)", timeline)
        headers = re.findall(r"^  incident ([\w-]+): ", timeline, flags=re.M)
        if gates:
            assert set(gates) == set(headers), (gates, headers)
    assert re.search(r"GATE +awaiting a human decision for freeze_ingestion-[0-9a-f]{16}\n", out)
