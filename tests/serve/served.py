"""`selfheal serve` in a subprocess, and the real AWS CLI pointed at it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "events" / "samples"
AWS = Path(sys.executable).parent / "aws"
PYTHONPATH = os.pathsep.join(
    [str(ROOT), str(ROOT / "cdk"), str(ROOT / "functions" / "shared" / "python")]
)


class Served:
    def __init__(
        self, endpoint: str, arns: dict[str, str], tables: dict[str, str], broker: str = ""
    ) -> None:
        self.endpoint = endpoint
        self.broker = broker  # host:port with --mqtt
        self.arns = arns
        self.tables = tables
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("AWS_")},
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_CONFIG_FILE": os.devnull,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
            "AWS_ENDPOINT_URL": endpoint,
        }

    def aws(self, *args: str, check: bool = True) -> Any:
        """The AWS CLI, unchanged: only its endpoint (AWS_ENDPOINT_URL) points here."""
        done = self._aws(*args)
        if check:
            assert done.returncode == 0, done.stderr
        return json.loads(done.stdout) if done.stdout.strip() else {}

    def aws_refused(self, code: str, operation: str, *args: str) -> str:
        """The AWS CLI's own error line for a call the server refuses with `code` (an
        AWS-shaped JSON error, as the CLI prints AWS's): its message."""
        done = self._aws(*args)
        assert done.returncode != 0, done.stdout
        prefix = f"An error occurred ({code}) when calling the {operation} operation: "
        assert prefix in done.stderr, done.stderr
        return done.stderr.split(prefix, 1)[1].strip()

    def _aws(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(AWS), *args, "--output", "json"],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=60,
        )

    def selfheal(self, *args: str) -> subprocess.CompletedProcess[str]:
        """An operator command, pointed here by --endpoint-url only."""
        env = {k: v for k, v in self.env.items() if k != "AWS_ENDPOINT_URL"}
        env["PYTHONPATH"] = PYTHONPATH
        return subprocess.run(
            [sys.executable, "-W", "ignore", "-m", "local.cli", *args,
             "--endpoint-url", self.endpoint],
            cwd=ROOT, env=env, capture_output=True, text=True, timeout=60,
        )  # fmt: skip

    def wait(self, arn: str, *, parked: bool = False) -> dict[str, Any]:
        """The server's wait (its scheduler's signals, never a sleep): the run's summary."""
        query = f"execution={arn}&parked={int(parked)}&timeout=60"
        with urllib.request.urlopen(f"{self.endpoint}/_selfheal/wait?{query}", timeout=90) as r:
            summary: dict[str, Any] = json.loads(r.read())
        return summary

    def put_events(self, event: dict[str, Any]) -> Any:
        """`aws events put-events` of a captured event, as its source would send it."""
        entry = {
            "Source": event["source"],
            "DetailType": event["detail-type"],
            "Detail": json.dumps(event["detail"]),
            "Resources": event["resources"],
        }
        return self.aws("events", "put-events", "--entries", json.dumps([entry]))

    def control(self, path: str) -> Any:
        """A `/_selfheal/...` control call (they block on the server's signals)."""
        with urllib.request.urlopen(f"{self.endpoint}/_selfheal/{path}", timeout=90) as r:
            return json.loads(r.read())


@contextmanager
def serve(*options: str) -> Iterator[Served]:
    """`selfheal serve [options]` until the block ends; ready when it prints `ready:`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env["PYTHONPATH"] = PYTHONPATH
    proc = subprocess.Popen(
        [sys.executable, "-W", "ignore", "-m", "local.cli", "serve", *options],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert proc.stdout is not None
    arns: dict[str, str] = {}
    tables: dict[str, str] = {}
    broker = ""
    section = ""
    try:
        for line in proc.stdout:  # blocks on the server's own output: no sleep, no polling
            if line.startswith("ready: "):
                endpoint = line.removeprefix("ready: ").strip()
                break
            if line.startswith("mqtt broker: "):
                broker = line.removeprefix("mqtt broker: ").split()[0]
            elif line.rstrip().endswith(":") and not line.startswith(" "):
                section = line.strip().rstrip(":")
            elif line.startswith("  ") and section in ("state machines", "tables"):
                key, value = line.split()
                (arns if section == "state machines" else tables)[key] = value
        else:
            pytest.fail(f"selfheal serve exited ({proc.wait()}) before it was ready")
        yield Served(endpoint, arns, tables, broker)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
