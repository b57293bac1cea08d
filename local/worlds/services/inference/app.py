"""The inference service `face_analyzer` (runbook 003 §4.1), as its host runs it: an HTTP
server whose `/health` answers once the model is loaded. Its unit's environment file
(`face_analyzer.env` in the host's directory, read at each start as systemd reads an
`EnvironmentFile=`) may carry `FACE_ANALYZER_BROKEN=<reason>`: the service then fails to
start, saying why, as a bad configuration does. Stdlib only: pm2 runs it as a program."""

from __future__ import annotations

import json
import os
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

MODEL = "face_analyzer-2024.11"


def environment_file(path: Path) -> dict[str, str]:
    values: dict[str, str] = {}
    if path.exists():
        for line in path.read_text().splitlines():
            if "=" in line and not line.lstrip().startswith("#"):
                key, value = line.split("=", 1)
                values[key.strip()] = value.strip()
    return values


class Handler(BaseHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        if self.path != "/health":
            self.send_error(404)
            return
        body = json.dumps({"status": "ok", "model": MODEL}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def main() -> None:
    config = {**os.environ, **environment_file(Path.cwd() / "face_analyzer.env")}
    port = int(config.get("INFERENCE_PORT", "8080"))
    print(f"face_analyzer: loading model {MODEL}", flush=True)
    if broken := config.get("FACE_ANALYZER_BROKEN", ""):
        print(f"face_analyzer: ERROR {broken}", flush=True)  # one stream, as the journal
        sys.exit(1)
    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    print("face_analyzer: serving", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
