"""One simulated service process: `python local/worlds/services/proc.py <json options>`.

Prints its startup log lines, then `READY` once it listens (the simulator waits on that
line, a real signal). Kinds:

- `http` / `store`: `/health` answers 200, or 503 naming the first dependency that does not
  answer (`needs`), or 503 with the startup error in `broken` mode.
- `queue`: `/push?n=`, `/pop?wait=`, `/depth?waitEmpty=` (long polls on a condition).
- `worker`: pops jobs from its queue and counts them; `stuck` mode consumes nothing.
- `ingestion`: writes one data point per subscribed topic to its data file every tick;
  `/health/dados-recentes` reads the file (runbook 004 `hoursSinceLastData`),
  `/health/mqtt` lists the subscribed topics.
"""

from __future__ import annotations

import json
import sys
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

TICK = 0.1
#: How long a dependency may take to answer before it counts as unreachable (a loaded
#: machine answers slowly; a hung one never).
NEEDS_TIMEOUT = 2.0


class State:
    def __init__(self, opts: dict[str, Any]) -> None:
        self.opts = opts
        self.mode: str = opts.get("mode", "ok")
        self.jobs: list[int] = []
        self.next_job = 0
        self.consumed = 0
        self.cond = threading.Condition()
        topics: list[str] = list(opts.get("topics", []))
        lost = set(opts.get("lostTopics", []))
        self.subscribed = (
            [] if self.mode in ("stale", "broken") else [t for t in topics if t not in lost]
        )
        self.data_file = Path(opts.get("dataFile", "/dev/null"))


def _get(url: str, timeout: float) -> Any:
    with urllib.request.urlopen(url, timeout=timeout) as resp:
        return json.loads(resp.read() or b"null")


def _last_points(path: Path) -> dict[str, float]:
    last: dict[str, float] = {}
    if path.exists():
        for line in path.read_text().splitlines():
            if line.strip():
                point = json.loads(line)
                last[point["topic"]] = max(last.get(point["topic"], 0.0), point["at"])
    return last


class _Server(ThreadingHTTPServer):
    allow_reuse_port = True  # the simulator holds the port (sim.reserve_port) beside us


def make_handler(state: State) -> type[BaseHTTPRequestHandler]:
    opts = state.opts

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:  # quiet
            pass

        def _send(self, status: int, body: Any) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_POST(self) -> None:
            self.do_GET()

        def do_GET(self) -> None:
            url = urlparse(self.path)
            q = {k: v[0] for k, v in parse_qs(url.query).items()}
            path = url.path
            if path == "/health":
                return self._health()
            if opts["kind"] == "queue":
                return self._queue(path, q)
            if opts["kind"] == "ingestion" and path.startswith("/health/"):
                return self._ingestion(path)
            self._send(404, {"error": f"no {path}"})

        def _health(self) -> None:
            if state.mode == "broken":
                return self._send(503, {"status": "error", "error": opts.get("error", "broken")})
            for name, url in opts.get("needs", {}).items():
                try:
                    _get(url, NEEDS_TIMEOUT)
                except Exception:
                    return self._send(503, {"status": "error", "error": f"{name} unreachable"})
            body: dict[str, Any] = {"status": "ok"}
            if opts["kind"] == "worker":
                body["consumed"] = state.consumed
            self._send(200, body)

        def _queue(self, path: str, q: dict[str, str]) -> None:
            with state.cond:
                if path == "/push":
                    for _ in range(int(q.get("n", "1"))):
                        state.next_job += 1
                        state.jobs.append(state.next_job)
                    state.cond.notify_all()
                    return self._send(200, {"depth": len(state.jobs)})
                if path == "/pop":
                    state.cond.wait_for(lambda: bool(state.jobs), float(q.get("wait", "0")))
                    job = state.jobs.pop(0) if state.jobs else None
                    state.cond.notify_all()
                    return self._send(200, {"job": job, "depth": len(state.jobs)})
                if path == "/depth":
                    state.cond.wait_for(lambda: not state.jobs, float(q.get("waitEmpty", "0")))
                    return self._send(200, {"depth": len(state.jobs)})
            self._send(404, {"error": f"no {path}"})

        def _ingestion(self, path: str) -> None:
            last = _last_points(state.data_file)
            newest = max(
                last.values(), default=time.time() - opts.get("lastDataHoursAgo", 0) * 3600
            )
            if path == "/health/dados-recentes":
                hours = max(0.0, (time.time() - newest) / 3600)
                status = "ok" if hours < 0.1 else "warning" if hours < 2 else "critical"
                return self._send(200, {"status": status, "hoursSinceLastData": round(hours, 4)})
            if path == "/health/mqtt":
                return self._send(
                    200,
                    {
                        "status": "connected",
                        "subscribedTopics": len(state.subscribed),
                        "configuredTopics": opts.get("topics", []),
                        "topics": state.subscribed,
                    },
                )
            if path == "/health/metrics":
                # runbook 004 "Dados Parciais": dataIngestion.last24h.coverage (the share of
                # the configured equipment that sent data in the last 24 h) and
                # quality.last24h.goodPercentage (every point saved here is good)
                now = time.time()
                configured = opts.get("topics", [])
                recent = [t for t in configured if now - last.get(t, 0.0) < 86400]
                coverage = 100.0 * len(recent) / len(configured) if configured else 0.0
                return self._send(
                    200,
                    {
                        "lastDataByTopic": last,
                        "now": now,
                        "dataIngestion": {"last24h": {"coverage": round(coverage, 1)}},
                        "quality": {"last24h": {"goodPercentage": 100.0 if recent else 0.0}},
                    },
                )
            self._send(404, {"error": f"no {path}"})

    return Handler


def work(state: State) -> None:
    """The worker loop: pop (long poll) and count; a refused queue is retried."""
    queue = state.opts["queueUrl"]
    while True:
        try:
            if _get(f"{queue}/pop?wait=1", 3).get("job") is not None:
                state.consumed += 1
        except Exception:
            time.sleep(TICK)  # the queue is down: try again


def ingest_once(state: State) -> None:
    """One data point per subscribed topic, appended, if the broker and the database (the
    process's `needs`) answer: without them nothing arrives or is saved."""
    try:
        for url in state.opts.get("needs", {}).values():
            _get(url, NEEDS_TIMEOUT)
    except Exception:
        return
    now = time.time()
    with state.data_file.open("a") as out:
        for topic in state.subscribed:
            if topic in state.opts.get("offlineEquipment", []):
                continue  # subscribed, but the equipment itself sends nothing
            out.write(json.dumps({"topic": topic, "at": now}) + "\n")


def ingest(state: State) -> None:
    """The ingestion loop: a tick of data points every TICK seconds."""
    while True:
        time.sleep(TICK)
        ingest_once(state)


def main() -> None:
    opts = json.loads(sys.argv[1])
    state = State(opts)
    server = _Server(("127.0.0.1", int(opts["port"])), make_handler(state))
    server.daemon_threads = True
    name = opts["name"]
    print(f"[INFO] {name} starting (mode {state.mode})", flush=True)
    if state.mode == "broken":
        print(f"[ERROR] {name}: {opts.get('error', 'broken')}")
    if opts["kind"] == "worker" and state.mode == "ok":
        threading.Thread(target=work, args=(state,), daemon=True).start()
    if opts["kind"] == "worker" and state.mode == "stuck":
        print(f"[WARN] {name}: worker started but is not consuming its queue")
    if opts["kind"] == "ingestion":
        print(f"[INFO] [MQTT] Carregando {len(state.subscribed)} tópicos MQTT...")
        ingest_once(state)  # the first points land before READY: checks never race them
        threading.Thread(target=ingest, args=(state,), daemon=True).start()
    print("READY", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
