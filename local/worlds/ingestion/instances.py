"""Real ingestion instances for the local pipeline: each one a process on 127.0.0.1 (a tiny
stdlib HTTP server) playing runbook 004's `aupus-api` for what selfheal touches:

- `GET /health` answers 200 with the mode, while the process runs (a killed process is
  the runbook's "Servidor VPS não responde");
- `GET /mode`, and `POST /mode {"mode", "token"}`: the admin switch (`MQTT_MODE` + restart),
  refusing a fencing token lower than the highest it has seen (409).

A restarted instance comes back in the mode it was started with, as `.env` says
(`--mode`), which is how the primary returns in production next to the backup.

`Processes` starts them (free ports: bind 0, the child prints its port), waits on the real
signal (the line it prints once listening), and kills every one it started.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[3]
#: This file, started as a script (stdlib only: no package of the runtime is imported).
SCRIPT = Path(__file__).resolve()
READY = "listening on "
#: What `selfheal_shared.ingestion.ingestion_instances.mode_command` sends to the host.
MODE_COMMAND = re.compile(
    r"MQTT_MODE=(?P<mode>production|standby) SELFHEAL_FENCE=(?P<token>\d+) "
    r"pm2 restart aupus-api --update-env"
)


class _State:
    def __init__(self, name: str, mode: str) -> None:
        self.name, self.mode, self.token = name, mode, 0
        self.lock = threading.Lock()


def _handler(state: _State) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _send(self, status: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _view(self) -> dict[str, Any]:
            return {"instanceId": state.name, "mode": state.mode, "token": state.token}

        def do_GET(self) -> None:
            if self.path in ("/health", "/mode"):
                with state.lock:
                    self._send(200, {"status": "ok", **self._view()})
            else:
                self._send(404, {"error": self.path})

        def do_POST(self) -> None:
            if self.path != "/mode":
                self._send(404, {"error": self.path})
                return
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
            mode, token = body.get("mode"), body.get("token")
            if mode not in ("production", "standby") or not isinstance(token, int):
                self._send(400, {"error": "mode (production|standby) and token (int)"})
                return
            with state.lock:
                if token < state.token:
                    self._send(409, self._view())
                    return
                state.mode, state.token = mode, token
                self._send(200, self._view())

    return Handler


def serve(name: str, mode: str, port: int) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", port), _handler(_State(name, mode)))
    print(f"{READY}{server.server_address[1]}", flush=True)
    server.serve_forever()


@dataclass
class Process:
    """One child process on 127.0.0.1; `port` is kept across restarts (the same URL)."""

    args: list[str]
    port: int = 0
    popen: subprocess.Popen[str] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def running(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def start(self) -> Process:
        self.popen = subprocess.Popen(
            [sys.executable, *self.args, "--port", str(self.port)],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        assert self.popen.stdout is not None
        # The child's own signal, printed once its socket is bound and listening: a connection
        # from now on is accepted (and queued until it serves).
        line = self.popen.stdout.readline()
        if not line.startswith(READY):
            self.kill()
            raise RuntimeError(f"{self.args} did not start: {line!r}")
        self.port = int(line[len(READY) :])
        return self

    def kill(self) -> None:
        if self.popen is not None:
            self.popen.kill()
            self.popen.wait(timeout=10)
            if self.popen.stdout:
                self.popen.stdout.close()
            self.popen = None


@dataclass
class Processes:
    """Every process a test started, killed at the end whatever happened."""

    started: dict[str, Process] = field(default_factory=dict)

    def instance(self, name: str, mode: str) -> Process:
        proc = Process([str(SCRIPT), "--name", name, "--mode", mode])
        self.started[name] = proc.start()
        return proc

    def add(self, name: str, proc: Process) -> Process:
        self.started[name] = proc.start()
        return proc

    def restart(self, name: str, mode: str | None = None) -> Process:
        """The host comes back on the same port, in the mode its `.env` says (`mode`, or the
        one it was started with)."""
        proc = self.started[name]
        proc.kill()
        if mode is not None:
            proc.args[proc.args.index("--mode") + 1] = mode
        return proc.start()

    def kill_all(self) -> None:
        for proc in self.started.values():
            proc.kill()

    def attach(self, pipeline: Any) -> Processes:
        """Run Command to these instances' hosts reaches them through `run_command`."""
        pipeline.extensions.ssm_agents.append(self.run_command)
        return self

    def run_command(
        self, targets: list[dict[str, Any]], commands: list[str]
    ) -> dict[str, Any] | None:
        """The SSM agent on an instance's host: `MQTT_MODE=<m> SELFHEAL_FENCE=<t> pm2 restart
        aupus-api` becomes the instance's own mode switch (its `.env` and restart, with the
        fence it checks). None when the targets name none of these hosts."""
        from selfheal_shared.ingestion.ingestion_instances import HOST_TAG

        names = [
            v for t in targets if t.get("Key") == f"tag:{HOST_TAG}" for v in t.get("Values", [])
        ]
        proc = next((self.started[n] for n in names if n in self.started), None)
        if proc is None:
            return None
        host = f"mi-{names[0]}"
        found = [MODE_COMMAND.fullmatch(c.strip()) for c in commands]
        if not all(found):
            return {"Status": "Failed", "InstanceId": host, "Output": f"unknown: {commands}"}
        for match in found:
            assert match is not None
            body = {"mode": match["mode"], "token": int(match["token"])}
            req = urllib.request.Request(
                f"{proc.url}/mode",
                data=json.dumps(body).encode(),
                headers={"Content-Type": "application/json"},
            )
            try:
                with urllib.request.urlopen(req, timeout=5):
                    pass
            except urllib.error.HTTPError as exc:
                seen = json.loads(exc.read() or b"{}").get("token")
                why = f"fenced: token {body['token']} < {seen}" if exc.code == 409 else exc.code
                return {"Status": "Failed", "InstanceId": host, "Output": f"exit 1 ({why})"}
            except OSError as exc:
                return {"Status": "Failed", "InstanceId": host, "Output": f"pm2: {exc}"}
        return {"Status": "Success", "InstanceId": host, "Output": "aupus-api restarted"}


def mode_of(url: str) -> str | None:
    """The mode an instance reports, read over HTTP (None when it does not answer)."""
    try:
        with urllib.request.urlopen(f"{url}/mode", timeout=5) as resp:
            return str(json.loads(resp.read())["mode"])
    except OSError:
        return None


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--name", required=True)
    ap.add_argument("--mode", choices=("production", "standby"), required=True)
    ap.add_argument("--port", type=int, default=0)
    args = ap.parse_args(argv)
    serve(args.name, args.mode, args.port)


if __name__ == "__main__":
    main()
