"""A real external mapper for the local pipeline (runbook 002's "mock embed" at
`/health`): a process on 127.0.0.1 whose health follows a script of request numbers, so a
test sets up an outage, a recovery and a flap without sleeping or flags in a file.

`--fail-first N` answers 503 to the first N probes; `--fail-at 8,9` to those probes too.
Started as a script (stdlib only: no package of the runtime is imported); `mapper.py`
makes the process and registers it.
"""

from __future__ import annotations

import argparse
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

#: The line `local.worlds.ingestion.Process` waits for (`READY` there): the port follows.
READY = "listening on "


def serve(port: int, fail_first: int, fail_at: set[int]) -> None:
    lock, count = threading.Lock(), [0]

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            with lock:
                count[0] += 1
                n = count[0]
            ok = self.path == "/health" and n > fail_first and n not in fail_at
            data = json.dumps({"status": "ok" if ok else "unavailable", "probe": n}).encode()
            self.send_response(200 if ok else 503)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    print(f"{READY}{server.server_address[1]}", flush=True)
    server.serve_forever()


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--fail-first", type=int, default=0)
    ap.add_argument("--fail-at", default="")
    args = ap.parse_args(argv)
    serve(args.port, args.fail_first, {int(n) for n in args.fail_at.split(",") if n})


if __name__ == "__main__":
    main()
