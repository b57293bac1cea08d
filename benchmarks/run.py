"""`make bench`: one JSON object on stdout, every figure a ratio or count from this run.

- cold_init: per remediator, a fresh interpreter importing its handler against one
  importing boto3 alone (cold_init.py);
- ladder_replay: wall seconds of the 60-minute edge offline ladder in virtual time;
- transitions: Step Functions state transitions per incident, per workflow and path;
- duplicate_storm: 200 incidents x 5 copies from 8 threads (storm.py): executions that
  acted, duplicate actions and notifications (the suite runs it at 25);
- serve_ready: `selfheal serve` spawn to `ready:` against a bare moto server (serve_ready.py);
- cdk_synth: `python cdk/app.py` first and warm, against importing aws_cdk (cdk_synth.py);
- iam_cost: the same incidents with every call checked against its role and without
  (iam_cost.py).
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from . import cdk_synth, cold_init, edge, iam_cost, serve_ready, storm, transitions

SECTIONS = (
    "cold_init",
    "ladder_replay",
    "transitions",
    "duplicate_storm",
    "serve_ready",
    "cdk_synth",
    "iam_cost",
)


def ladder_replay() -> tuple[dict[str, Any], int]:
    """The replay's figures, and its state transitions (the `never_back` path)."""
    hour = edge.outage("hardware")
    if hour.summary.get("error") != "selfheal.Escalated":
        raise AssertionError(f"the ladder did not escalate: {hour.summary}")
    figures = {
        "wall_s": round(hour.wall_s, 2),
        "modelled_s": edge.MODELLED_S,
        "virtual_s": round(hour.virtual_s),
        "speedup": round(edge.MODELLED_S / hour.wall_s, 1),
    }
    return figures, hour.transitions


def back_after_restart() -> int:
    back = edge.outage(None)
    if back.summary["status"] != "SUCCEEDED" or "Restart" not in back.summary["states"]:
        raise AssertionError(f"the edge did not come back after a restart: {back.summary}")
    return back.transitions


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__)
    parser.add_argument("--n", type=int, default=7, help="cold-init runs per function (median)")
    parser.add_argument("--only", choices=SECTIONS, action="append", help="repeatable")
    parser.add_argument("--function", action="append", help="cold_init: only these folders")
    parser.add_argument("--storm-incidents", type=int, default=200, help="duplicate_storm size")
    args = parser.parse_args(argv)
    sections = args.only or list(SECTIONS)

    out: dict[str, Any] = {}
    if "cold_init" in sections:
        out["cold_init"] = cold_init.measure(args.function, n=args.n)
    never_back = None
    if "ladder_replay" in sections:
        out["ladder_replay"], never_back = ladder_replay()
    if "transitions" in sections:
        counts = transitions.measure()
        ladder = counts.setdefault(edge.WORKFLOW, {})
        ladder["back_after_restart"] = back_after_restart()
        if never_back is not None:
            ladder["never_back"] = never_back
        out["transitions"] = counts
    if "duplicate_storm" in sections:
        out["duplicate_storm"] = storm.measure(args.storm_incidents)
    if "serve_ready" in sections:
        out["serve_ready"] = serve_ready.measure()
    if "cdk_synth" in sections:
        out["cdk_synth"] = cdk_synth.measure()
    if "iam_cost" in sections:
        out["iam_cost"] = iam_cost.measure()
    json.dump(out, sys.stdout, indent=2)
    print()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
