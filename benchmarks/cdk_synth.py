"""`python cdk/app.py` (what `cdk synth` runs) into a fresh folder, first and warm, against a
fresh interpreter that imports aws_cdk alone (jsii's node process included), measured in
the same run. Issue 10's target: a warm synth in ≤ 20 s. Bundling is real (pip, once per
requirements set); the warm run reuses the CDK's asset cache in `cdk.out`, as a user's
second `cdk synth` does."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def _wall(argv: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(argv, cwd=ROOT, env=env, check=True, capture_output=True, timeout=900)
    return time.perf_counter() - start


def measure() -> dict[str, Any]:
    env = {**os.environ, "JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION": "1"}
    baseline = _wall([sys.executable, "-c", "import aws_cdk"], env)
    with tempfile.TemporaryDirectory(prefix="selfheal-synth-") as out:
        env["CDK_OUTDIR"] = out
        first = _wall([sys.executable, "cdk/app.py"], env)
        warm = _wall([sys.executable, "cdk/app.py"], env)
        stacks = sorted(p.name for p in Path(out).glob("*.template.json"))
    return {
        "first_s": round(first, 2),
        "warm_s": round(warm, 2),
        "import_aws_cdk_s": round(baseline, 2),
        "warm_ratio": round(warm / baseline, 2),
        "stacks": len(stacks),
        "target_warm_s": 20.0,
    }
