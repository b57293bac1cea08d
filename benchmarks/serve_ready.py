"""`selfheal serve` from spawn to `ready:` (every workflow's resources created, the world
seeded), against a bare moto server started the same way just before it: the ratio is
what the pipeline adds to moto's own start. Issue 10's target is ready in ≤ 10 s."""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
PYTHONPATH = os.pathsep.join(
    [str(ROOT), str(ROOT / "cdk"), str(ROOT / "functions" / "shared" / "python")]
)
BARE = (
    "from moto.moto_server.threaded_moto_server import ThreadedMotoServer\n"
    "s = ThreadedMotoServer(ip_address='127.0.0.1', port=0, verbose=False); s.start()\n"
    "print('ready: http://%s:%d' % s.get_host_and_port(), flush=True); s.stop()\n"
)


def _until_ready(argv: list[str]) -> float:
    """Wall seconds from spawn to the child's `ready:` line (then it is stopped)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env["PYTHONPATH"] = PYTHONPATH
    start = time.perf_counter()
    proc = subprocess.Popen(
        argv, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    )
    assert proc.stdout is not None
    try:
        for line in proc.stdout:
            if line.startswith("ready: "):
                return time.perf_counter() - start
        raise RuntimeError(f"{argv} exited ({proc.wait()}) before it was ready")
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def measure(n: int = 3) -> dict[str, Any]:
    pairs = [
        (
            _until_ready([sys.executable, "-W", "ignore", "-c", BARE]),
            _until_ready([sys.executable, "-W", "ignore", "-m", "local.cli", "serve"]),
        )
        for _ in range(n)
    ]
    return {
        "runs": n,
        "serve_median_s": round(statistics.median(s for _, s in pairs), 2),
        "bare_moto_median_s": round(statistics.median(b for b, _ in pairs), 2),
        "ratio": round(statistics.median(s / b for b, s in pairs), 2),
        "target_s": 10.0,
    }
