"""CDK entry point (`cdk.json` runs `python3 cdk/app.py`).

Puts `cdk/` on sys.path itself so a plain `python3 cdk/app.py` works from any directory;
run outside the CLI, it synthesizes into `<repo>/cdk.out` instead of a temporary folder.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

CDK_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(CDK_DIR))

from selfheal_cdk.stack import build_app  # noqa: E402


def main() -> None:
    outdir = os.environ.get("CDK_OUTDIR") or CDK_DIR.parent / "cdk.out"
    build_app(outdir=outdir).synth()


if __name__ == "__main__":
    main()
