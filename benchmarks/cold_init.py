"""Cold init of each remediator: a fresh interpreter that imports its handler module, as
Lambda's init phase does, against a fresh interpreter that imports boto3 alone.

Each run of a handler is paired with a boto3 run just before it, and a ratio is the
median of those paired ratios: on a shared machine the load changes from one second to
the next, and a baseline measured seconds apart would carry that change into the ratio.
`ratio` and `median_ms` are wall time from spawn to the end of the import; `cpu_ratio`
and `cpu_median_ms` the child's user + sys CPU time, alongside. One warm-up run of each
first caches bytecode (in a temporary PYTHONPYCACHEPREFIX, never in the tree) and the
page cache: the figure is import work, not compilation or disk reads.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
FUNCTIONS = ROOT / "functions"
LAYER = FUNCTIONS / "shared" / "python"  # /opt/python in Lambda
BASELINE = "_baseline"


def function_folders() -> dict[str, Path]:
    """Every remediator: `functions/<domain>/<name>/` with an app.py, by name."""
    return {p.parent.name: p.parent for p in sorted(FUNCTIONS.glob("*/*/app.py"))}


def _environment(pycache: str) -> dict[str, str]:
    """The parent's environment minus what would make a child differ from a Lambda sandbox
    (our own PYTHONPATH, powertools and selfheal settings), with tracing off."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("POWERTOOLS_", "SELFHEAL_"))
        and k not in ("PYTHONPATH", "PYTHONDONTWRITEBYTECODE", "PYTHONPYCACHEPREFIX")
    }
    env.update(
        POWERTOOLS_TRACE_DISABLED="true",
        POWERTOOLS_SERVICE_NAME="selfheal",
        AWS_REGION=env.get("AWS_REGION", "us-east-1"),
        AWS_DEFAULT_REGION=env.get("AWS_DEFAULT_REGION", env.get("AWS_REGION", "us-east-1")),
        PYTHONPYCACHEPREFIX=pycache,
    )
    return env


@dataclass(frozen=True)
class Sample:
    cpu_s: float
    wall_s: float


def _run_once(code: str, path: Sequence[Path], env: dict[str, str], cwd: str) -> Sample:
    """One interpreter that runs `code`, from spawn until `code` is done. It then leaves
    with `os._exit`: tearing the interpreter down is no part of a Lambda's init, and
    freeing a large heap of modules is a slow and noisy part of a normal exit."""
    env = {**env, "PYTHONPATH": os.pathsep.join(str(p) for p in path)}
    argv = [sys.executable, "-c", f"{code}\nimport os\nos._exit(0)"]
    with tempfile.TemporaryFile() as stderr:
        started = time.perf_counter()
        child = subprocess.Popen(argv, env=env, cwd=cwd, stderr=stderr)
        _, status, usage = os.wait4(child.pid, 0)  # wait4: the child's own resource usage
        wall = time.perf_counter() - started
        child.returncode = os.waitstatus_to_exitcode(status)
        if child.returncode != 0:
            stderr.seek(0)
            raise RuntimeError(
                f"{code!r} with PYTHONPATH={env['PYTHONPATH']} failed:\n"
                + stderr.read().decode(errors="replace")
            )
    return Sample(cpu_s=usage.ru_utime + usage.ru_stime, wall_s=wall)


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 1)


def measure(functions: Sequence[str] | None = None, n: int = 7) -> dict[str, Any]:
    """`{function: {ratio, median_ms, cpu_ratio, cpu_median_ms}, "_baseline": {...}}`
    from n paired runs per function; the baseline is measured in this same call."""
    folders = function_folders()
    names = list(folders if functions is None else functions)
    baseline: tuple[str, list[Path]] = ("import boto3", [])
    handlers = {fn: ("import app", [folders[fn], LAYER]) for fn in names}
    pairs: dict[str, list[tuple[Sample, Sample]]] = {fn: [] for fn in names}
    with tempfile.TemporaryDirectory(prefix="selfheal-bench-") as tmp:
        env = _environment(pycache=tmp)
        for code, path in [baseline, *handlers.values()]:
            _run_once(code, path, env, tmp)  # warm-up: bytecode and page cache
        for _ in range(n):
            for fn, (code, path) in handlers.items():
                base = _run_once(*baseline, env, tmp)
                pairs[fn].append((base, _run_once(code, path, env, tmp)))
    bases = [b for runs in pairs.values() for b, _ in runs]
    result: dict[str, Any] = {
        fn: {
            "ratio": round(statistics.median(h.wall_s / b.wall_s for b, h in runs), 2),
            "median_ms": _ms(statistics.median(h.wall_s for _, h in runs)),
            "cpu_ratio": round(statistics.median(h.cpu_s / b.cpu_s for b, h in runs), 2),
            "cpu_median_ms": _ms(statistics.median(h.cpu_s for _, h in runs)),
        }
        for fn, runs in pairs.items()
    }
    result[BASELINE] = {
        "import_boto3_median_ms": _ms(statistics.median(b.wall_s for b in bases)),
        "import_boto3_cpu_median_ms": _ms(statistics.median(b.cpu_s for b in bases)),
    }
    return result
