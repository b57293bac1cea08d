"""The Equivalence API (runbook 002 §1 "web"): `/health` answers 200 only when PostgreSQL
and Redis both answer; `POST /batch?n=N` queues N evaluations on the RQ queue `default`.
Run by pm2 with the host's `.env` in its environment; stdlib HTTP plus the real drivers."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

import psycopg
from redis import Redis
from rq import Queue


def health() -> tuple[int, dict[str, str]]:
    broken = os.environ.get("EQUIVALENCE_BROKEN", "")
    if broken:
        return 503, {"status": "error", "error": broken}
    checks: dict[str, str] = {}
    try:
        with psycopg.connect(os.environ["DATABASE_URL"], connect_timeout=2) as db:
            db.execute("SELECT 1")
        checks["postgres"] = "ok"
    except psycopg.Error as exc:
        checks["postgres"] = f"error: {str(exc).strip().splitlines()[0]}"
    try:
        Redis.from_url(os.environ["REDIS_URL"], socket_timeout=2).ping()
        checks["redis"] = "ok"
    except Exception as exc:  # redis raises several families; each is "not ok"
        checks["redis"] = f"error: {exc}"
    ok = all(v == "ok" for v in checks.values())
    return (200 if ok else 503), {"status": "ok" if ok else "degraded", **checks}


class Handler(BaseHTTPRequestHandler):
    def _send(self, code: int, body: Mapping[str, object]) -> None:
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        if urlparse(self.path).path == "/health":
            code, body = health()
            if code != 200:
                print(f"[ERROR] web: /health {code}: {body}", flush=True)
            self._send(code, body)
        else:
            self._send(404, {"error": "not found"})

    def do_POST(self) -> None:
        url = urlparse(self.path)
        if url.path != "/batch":
            self._send(404, {"error": "not found"})
            return
        n = int(parse_qs(url.query).get("n", ["1"])[0])
        queue = Queue("default", connection=Redis.from_url(os.environ["REDIS_URL"]))
        for i in range(n):
            queue.enqueue("local.worlds.services.equivalence.jobs.evaluate", i)
        self._send(202, {"queued": n})

    def log_message(self, fmt: str, *args: object) -> None:
        pass  # one line per request would drown the log the runbook reads


def main() -> None:
    broken = os.environ.get("EQUIVALENCE_BROKEN", "")
    if broken:
        # A configuration it runs badly with: up, and /health says why (runbook 002 "ver
        # erro" in the logs).
        print(f"[ERROR] web: {broken}", file=sys.stderr, flush=True)
    port = int(os.environ["WEB_PORT"])
    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    print("[INFO] web: listening", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
