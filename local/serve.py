"""`selfheal serve`: the local pipeline behind a moto server on 127.0.0.1.

The `Pipeline` (moto with the real Step Functions interpreter, the in-process Lambdas,
the virtual clock, the simulated world) runs in this process; moto's
`ThreadedMotoServer` serves the same backends over HTTP, so unchanged AWS clients
(the AWS CLI, boto3 scripts, the `selfheal` operator commands) reach it. Executions
started through the server run exactly as the runtime's own: same interpreter, same
patched Lambdas, same clock.

A thin WSGI layer in front of moto does what moto's server does not:
- `PutEvents` is routed by the real rule patterns (moto cannot deliver to Step Functions),
  checked as EventBridge checks it by the same code as in-process (`local/aws_validation.py`);
- `StartExecution` without a name gets a unique one, as in AWS (moto names it `None`);
- `/_selfheal/clock` reads and `/_selfheal/clock/advance?seconds=N` moves virtual time;
- with `--scheduler`, Wait states sleep in virtual time and the clock jumps to the next
  deadline once everything is parked (as the workflow tests run); `POST
  /_selfheal/clock/hold?until=ISO` stops it at an instant (no `until`: goes on) and
  `/_selfheal/clock/standing` waits until it stands there, so a person can act between two
  steps of a ladder (acknowledge a page before the next level's turn);
- `/_selfheal/pages` lists what the HTTP subscriber on the page topics received (what was
  delivered, with its topic level), the way a paging service would see it;
- with `--mqtt`, `/_selfheal/mqtt/wait?handled=N` waits until the IoT bridge has taken N
  messages from the broker (delivered, rejected or ignored as retained) and the work they
  started is parked or done: a client publishing on the broker has no other signal;
- with `--mqtt`, `aws iot-data publish` goes onto the broker, as IoT Core's would;
- an error is always an AWS-shaped JSON answer, never an HTML page (an unexpected one is
  `InternalFailure`, HTTP 500, as AWS's JSON protocol answers it).
"""

from __future__ import annotations

import io
import json
import logging
import os
import signal
import sys
import threading
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass
from datetime import datetime
from http import HTTPStatus
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, unquote

from moto.moto_server.threaded_moto_server import ThreadedMotoServer
from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.serving import make_server

from .clock import check_advance
from .host import REGION
from .runtime import ExecutionTimeout, Pipeline

if TYPE_CHECKING:
    from .mqtt_bridge import Bridge

CONTROL = "/_selfheal"
WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def _json(start_response: Callable[..., Any], status: str, body: Any) -> list[bytes]:
    data = body.encode() if isinstance(body, str) else json.dumps(body, default=str).encode()
    start_response(
        status,
        [("Content-Type", "application/x-amz-json-1.1"), ("Content-Length", str(len(data)))],
    )
    return [data]


class Front:
    """The WSGI application the server runs: the few things moto's server lacks, then moto."""

    def __init__(self, pipeline: Pipeline, moto_app: WSGIApp) -> None:
        self.pipeline = pipeline
        self.moto_app = moto_app
        self.bridge: Bridge | None = None  # set by `serving(mqtt=True)`

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        try:
            return self._route(environ, start_response)
        except Exception as exc:  # ours or moto's: an AWS-shaped answer, never an HTML page
            logging.getLogger(__name__).exception("selfheal serve: %s", exc)
            body = {"__type": "InternalFailure", "message": f"{type(exc).__name__}: {exc}"}
            return _json(start_response, "500 Internal Server Error", body)

    def _route(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        path = environ.get("PATH_INFO", "")
        if path.startswith(CONTROL):
            return self._control(environ, start_response, path.removeprefix(CONTROL))
        if path.startswith("/topics/") and self.bridge is not None:
            # `aws iot-data publish`: onto the broker, where the topic rules pick it up
            topic = unquote(path.removeprefix("/topics/"))
            length = int(environ.get("CONTENT_LENGTH") or 0)
            self.bridge.publish(topic, environ["wsgi.input"].read(length) if length else b"")
            return _json(start_response, "200 OK", {})
        target = environ.get("HTTP_X_AMZ_TARGET", "")
        if target == "AWSEvents.PutEvents":
            # The in-process stand-in's own answer: one code path, checked as EventBridge does.
            code, _, text = self.pipeline.extensions.put_events(self._body(environ))
            return _json(start_response, f"{code} {HTTPStatus(code).phrase}", text)
        if target.startswith("AmazonSSM."):
            # Run Command and the managed hosts: the same stand-in as in-process.
            answer = self.pipeline.extensions.answer(target, self._body(environ))
            if answer is not None:
                code, _, text = answer
                return _json(start_response, f"{code} {HTTPStatus(code).phrase}", text)
        if target == "AWSStepFunctions.StartExecution":
            body = self._body(environ)
            if not body.get("name"):
                body["name"] = str(uuid.uuid4())  # what AWS does; moto would name it None
            self._rewind(environ, body)
        return self._moto(environ, start_response)

    def _moto(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        """moto's answer, except that a 5xx it gives as an HTML page (werkzeug's) becomes
        AWS's JSON `InternalFailure`: a client reads an error, never a page."""
        answer: list[Any] = []
        chunks: list[bytes] = []

        def capture(status: str, headers: list[tuple[str, str]], *exc_info: Any) -> Any:
            answer[:] = [status, headers]
            return chunks.append

        result = self.moto_app(environ, capture)
        try:
            chunks.extend(result)
        finally:
            if hasattr(result, "close"):
                result.close()
        status, headers = answer
        kind = next((v for k, v in headers if k.lower() == "content-type"), "")
        if status.startswith("5") and "html" in kind:
            return _json(start_response, status, {"__type": "InternalFailure", "message": status})
        start_response(status, headers)
        return chunks

    @staticmethod
    def _body(environ: dict[str, Any]) -> dict[str, Any]:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        raw = environ["wsgi.input"].read(length) if length else b""
        environ["wsgi.input"] = io.BytesIO(raw)
        try:
            parsed = json.loads(raw or b"{}")
        except ValueError:
            return {}
        return parsed if isinstance(parsed, dict) else {}

    @staticmethod
    def _rewind(environ: dict[str, Any], body: dict[str, Any]) -> None:
        raw = json.dumps(body).encode()
        environ["wsgi.input"] = io.BytesIO(raw)
        environ["CONTENT_LENGTH"] = str(len(raw))

    def _control(
        self, environ: dict[str, Any], start_response: Callable[..., Any], path: str
    ) -> list[bytes]:
        clock = self.pipeline.clock
        if path == "/clock/advance" and environ.get("REQUEST_METHOD") == "POST":
            given = parse_qs(environ.get("QUERY_STRING", "")).get("seconds", [""])[0]
            try:
                seconds = float(given)
            except ValueError:
                why = f"seconds: a number of seconds (?seconds=N), not {given!r}"
                return _json(start_response, "400 Bad Request", {"error": why})
            try:
                check_advance(seconds)
            except ValueError as exc:  # not finite, negative, or more than a year
                return _json(start_response, "400 Bad Request", {"error": str(exc)})
            clock.advance(seconds)
            return _json(start_response, "200 OK", {"now": clock.now().isoformat()})
        if path == "/clock/hold" and environ.get("REQUEST_METHOD") == "POST":
            return self._hold(parse_qs(environ.get("QUERY_STRING", "")), start_response)
        if path == "/clock/standing":
            try:
                timeout = float(parse_qs(environ.get("QUERY_STRING", "")).get("timeout", ["60"])[0])
            except ValueError:
                return _json(start_response, "400 Bad Request", {"error": "timeout: a number"})
            if not clock.wait_standing(timeout):
                why = f"still moving after {timeout:g} s; {clock.describe()}"
                return _json(start_response, "504 Gateway Timeout", {"error": why})
            return _json(start_response, "200 OK", {"now": clock.now().isoformat()})
        if path == "/wait":
            return self._wait(parse_qs(environ.get("QUERY_STRING", "")), start_response)
        if path == "/clock":
            return _json(start_response, "200 OK", {"now": clock.now().isoformat()})
        if path == "/pages":
            return _json(start_response, "200 OK", {"pages": self.pipeline.notifications()})
        if path == "/page-ack" and environ.get("REQUEST_METHOD") == "POST":
            # The core stack's function URL for `page_ack`: the same event, the same answer.
            headers = {
                k.removeprefix("HTTP_").replace("_", "-").lower(): v
                for k, v in environ.items()
                if k.startswith("HTTP_")
            }
            length = int(environ.get("CONTENT_LENGTH") or 0)
            body = environ["wsgi.input"].read(length) if length else b""
            answer = self.pipeline.function_url("page_ack", body, headers)
            code = int(answer.get("statusCode", 502))
            start_response(
                f"{code} {HTTPStatus(code).phrase}", [("Content-Type", "application/json")]
            )
            return [str(answer.get("body", "")).encode()]
        if path == "/mqtt/wait":
            return self._mqtt_wait(parse_qs(environ.get("QUERY_STRING", "")), start_response)
        return _json(start_response, "404 Not Found", {"error": f"no control {path!r}"})

    def _hold(self, query: dict[str, list[str]], start_response: Callable[..., Any]) -> list[bytes]:
        """Hold the scheduler's clock at `until` (ISO 8601 with an offset), or release it."""
        clock = self.pipeline.clock
        if not clock.scheduler:
            why = "the clock holds only in scheduler mode (selfheal serve --scheduler)"
            return _json(start_response, "400 Bad Request", {"error": why})
        given = query.get("until", [""])[0]
        try:
            until = datetime.fromisoformat(given) if given else None
        except ValueError:
            until = None
        if given and (until is None or until.tzinfo is None):
            why = f"until: an ISO 8601 instant with its offset, not {given!r}"
            return _json(start_response, "400 Bad Request", {"error": why})
        clock.hold_at(until)
        return _json(start_response, "200 OK", {"now": clock.now().isoformat(), "until": given})

    def _wait(self, query: dict[str, list[str]], start_response: Callable[..., Any]) -> list[bytes]:
        """Until the execution ends (or, with `parked=1`, waits at a human gate), on the
        runtime's own signals: its summary (status, states, actions, awaiting)."""
        arn = query.get("execution", [""])[0]
        parked = query.get("parked", ["0"])[0] == "1"
        try:
            timeout = float(query.get("timeout", ["60"])[0])
            self.pipeline.wait([arn], timeout, until_parked=parked)
            summary = self.pipeline.execution_summary(arn)
        except ExecutionTimeout as exc:
            return _json(start_response, "504 Gateway Timeout", {"error": str(exc)})
        except Exception as exc:  # an unknown ARN, a bad number: say so, never a traceback
            return _json(start_response, "400 Bad Request", {"error": f"{exc}"})
        return _json(start_response, "200 OK", summary)

    def _mqtt_wait(
        self, query: dict[str, list[str]], start_response: Callable[..., Any]
    ) -> list[bytes]:
        bridge = self.bridge
        if bridge is None:
            return _json(start_response, "404 Not Found", {"error": "serve runs without --mqtt"})
        try:
            handled = int(query.get("handled", ["0"])[0])
            timeout = float(query.get("timeout", ["60"])[0])
        except ValueError:
            return _json(start_response, "400 Bad Request", {"error": "handled, timeout: numbers"})

        def taken() -> int:
            return bridge.delivered + len(bridge.rejected) + len(bridge.retained)

        clock = self.pipeline.clock
        arrived = clock.wait_until(lambda: taken() >= handled, timeout)
        if not (arrived and clock.wait_quiet(timeout)):
            return _json(
                start_response,
                "504 Gateway Timeout",
                {"error": f"{taken()} of {handled} messages handled in {timeout:g} s"},
            )
        body = {
            "delivered": bridge.delivered,
            "rejected": [{"topic": t, "error": e} for t, e in bridge.rejected],
            "retained": list(bridge.retained),
        }
        return _json(start_response, "200 OK", body)


@dataclass
class Served:
    endpoint: str
    pipeline: Pipeline
    mqtt: str | None = None  # host:port of the broker with --mqtt


class _Server(ThreadedMotoServer):
    """moto's threaded server with our front in place of its bare dispatcher."""

    def __init__(self, front: Front, port: int) -> None:
        super().__init__(ip_address="127.0.0.1", port=port, verbose=False)
        self._front = front

    def _server_entry(self) -> None:
        self._server = make_server(
            self._ip_address, self._port, self._front, True, request_handler=MotoRequestHandler
        )
        self._server_ready_event.set()
        self._server.serve_forever()


@contextmanager
def serving(
    *,
    port: int = 0,
    speed: float = 0.0,
    world: Path | None = None,
    dry_run: bool = False,
    mqtt: bool = False,
    scheduler: bool = False,
) -> Iterator[Served]:
    """The pipeline, served. `speed` > 0: a Wait state takes 1/speed real second per
    virtual second (0: Wait states pass at once, as in `replay`). `mqtt`: mosquitto on
    127.0.0.1 and the IoT bridge (topic rules → the edge ingress), as IoT Core would."""
    from .worlds import World, running_services

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no line per request
    # The pipeline's own clients must stay in-process (moto's stubber), not loop over HTTP.
    os.environ.pop("AWS_ENDPOINT_URL", None)
    with ExitStack() as stack:
        pipeline = stack.enter_context(
            Pipeline(
                world=World.load(world) if world else None,
                scale=1.0 / speed if speed > 0 else 0.0,
                dry_run=dry_run,
                scheduler=scheduler,
            )
        )
        stack.enter_context(running_services(pipeline))  # the described services, as real processes
        front = Front(pipeline, DomainDispatcherApplication(create_backend_app))
        broker_at = None
        if mqtt:
            from .broker import mosquitto
            from .mqtt_bridge import Bridge

            broker = stack.enter_context(mosquitto())
            from .iot_jobs import JobsPlane

            front.bridge = Bridge(pipeline, broker).start()
            stack.callback(front.bridge.stop)
            stack.callback(JobsPlane(pipeline, broker).start().stop)
            broker_at = f"{broker.host}:{broker.port}"
        server = _Server(front, port)
        server.start()
        stack.callback(server.stop)
        host, bound = server.get_host_and_port()
        yield Served(f"http://{host}:{bound}", pipeline, broker_at)


def describe(served: Served) -> str:
    """What a user needs to point a client at it."""
    p = served.pipeline
    lines = [
        f"endpoint: {served.endpoint}   region: {REGION}   "
        "credentials: any (e.g. AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing)",
        f"wait: GET {served.endpoint}{CONTROL}/wait?execution=ARN[&parked=1]",
        f"clock: {p.clock.now().isoformat()} (POST {served.endpoint}{CONTROL}/clock/advance"
        "?seconds=N, or `selfheal clock advance N`)",
        "state machines:",
        *(f"  {wf:<28} {arn}" for wf, arn in sorted(p.state_machines.items())),
        "tables:",
        *(f"  {t:<28} {name}" for t, name in sorted(p.tables.items())),
        "topics:",
        *(f"  {t:<28} {arn}" for t, arn in sorted(p.topics.items())),
        "managed hosts (aws ssm describe-instance-information, send-command):",
        *(
            f"  {h.name:<28} {h.instance_id}  "
            + " ".join(f"{k}={v}" for k, v in sorted(h.tags.items()))
            for h in sorted(p.hosts.hosts.values(), key=lambda h: h.name)
        ),
        f"ready: {served.endpoint}",
    ]
    return "\n".join(lines)


def run(
    *,
    port: int,
    speed: float,
    world: Path | None,
    dry_run: bool,
    mqtt: bool,
    scheduler: bool = False,
    stop: threading.Event | None = None,
) -> int:
    """Serve until interrupted (or `stop` is set)."""
    stop = stop or threading.Event()
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with serving(
        port=port, speed=speed, world=world, dry_run=dry_run, mqtt=mqtt, scheduler=scheduler
    ) as served:
        if served.mqtt:
            print(f"mqtt broker: {served.mqtt} (IoT bridge and IoT Jobs running)")
        print(describe(served), flush=True)
        with suppress(KeyboardInterrupt):
            stop.wait()
    print("selfheal serve: stopped", file=sys.stderr)
    return 0
