"""A real HTTP endpoint on 127.0.0.1 subscribed to every page topic.

The tests count what SNS delivered here, so "paged" means "a subscriber received it", as it
would for an on-call phone or a paging service behind an HTTPS subscription; a topic nobody
subscribes to pages nobody, locally as in an account. moto delivers HTTP subscriptions
synchronously from `Publish`, with the SNS envelope (`Type`, `TopicArn`, `Message`, ...).
"""

from __future__ import annotations

import json
import selectors
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

#: What a subscriber must accept; a confirmation is answered by SNS's own `SubscribeURL`.
ENVELOPE = ("Type", "MessageId", "TopicArn", "Message")


class PageReceiver:
    """Every SNS notification delivered to `url(level)`, in arrival order."""

    def __init__(self) -> None:
        self.delivered: list[dict[str, Any]] = []
        #: What arrived but was no SNS notification, kept for inspection.
        self.rejected: list[str] = []
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                code = receiver._accept(self.path.strip("/"), body)
                self.send_response(code)
                self.end_headers()

            def log_message(self, *_args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True

    def url(self, level: str) -> str:
        return f"http://127.0.0.1:{self._server.server_port}/{level}"

    @contextmanager
    def running(self) -> Iterator[PageReceiver]:
        # Not `serve_forever`: its `shutdown` waits for the next poll (up to 0.5 s), a cost
        # every pipeline paid on exit. This loop wakes at once when told to stop.
        wake, waker = socket.socketpair()

        def serve() -> None:
            with selectors.DefaultSelector() as selector:
                selector.register(self._server, selectors.EVENT_READ)
                selector.register(wake, selectors.EVENT_READ)
                while True:
                    ready = [key.fileobj for key, _ in selector.select()]
                    if wake in ready:
                        return
                    self._server.handle_request()  # readable: accepts without blocking

        thread = threading.Thread(target=serve, name="page-receiver")
        thread.daemon = True
        thread.start()
        try:
            yield self
        finally:
            waker.send(b"x")
            thread.join()
            self._server.server_close()
            wake.close()
            waker.close()

    def _accept(self, level: str, body: bytes) -> int:
        try:
            envelope = json.loads(body)
            missing = [k for k in ENVELOPE if k not in envelope]
            if missing or envelope["Type"] != "Notification":
                raise ValueError(f"not an SNS notification (missing {missing})")
        except ValueError as e:
            with self._lock:
                self.rejected.append(f"{level}: {e}: {body[:200]!r}")
            return 400
        with self._lock:
            self.delivered.append(
                {
                    "level": level,
                    "topicArn": envelope["TopicArn"],
                    "messageId": envelope["MessageId"],
                    "subject": envelope.get("Subject"),
                    "message": envelope["Message"],
                }
            )
        return 200

    def received(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self.delivered)
