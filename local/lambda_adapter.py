"""Run a Lambda remediator in-process, found by the handler string the CDK gives it.

moto's own Lambda needs Docker. We patch the one method moto uses to execute a
function, so everything around it (the Step Functions `lambda:invoke` integration,
FunctionError handling, payload JSON) stays moto's.
"""

from __future__ import annotations

import importlib.util
import json
import sys
import traceback
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass
from types import ModuleType
from typing import Any
from unittest import mock

from moto.awslambda.models import LambdaFunction
from selfheal_cdk.spec import FunctionSpec

Handler = Callable[[dict[str, Any], Any], Any]


@dataclass
class LambdaContext:
    """The attributes of the real context that powertools and our handlers read."""

    function_name: str
    invoked_function_arn: str
    memory_limit_in_mb: int
    timeout_seconds: int
    function_version: str = "$LATEST"
    aws_request_id: str = ""
    log_group_name: str = ""
    log_stream_name: str = "local"

    def get_remaining_time_in_millis(self) -> int:
        return self.timeout_seconds * 1000


def load_handler(fn: FunctionSpec) -> Handler:
    module_name, _, attr = fn.handler.rpartition(".")
    path = fn.path / (module_name.replace(".", "/") + ".py")
    unique = f"selfheal_fn_{fn.name}"
    module: ModuleType | None = sys.modules.get(unique)
    if module is None:
        spec = importlib.util.spec_from_file_location(unique, path)
        if spec is None or spec.loader is None:
            raise ImportError(f"cannot load handler {fn.handler!r} from {path}")
        module = importlib.util.module_from_spec(spec)
        sys.modules[unique] = module
        spec.loader.exec_module(module)
    return getattr(module, attr)  # type: ignore[no-any-return]


class InProcessLambdas:
    """Maps deployed function names to our handlers; unknown functions answer a stub OK."""

    def __init__(self, activity: Callable[[], AbstractContextManager[None]] = nullcontext) -> None:
        self._handlers: dict[str, tuple[FunctionSpec, Handler]] = {}
        self.invocations: list[tuple[str, str]] = []  # (function, "ok" | errorType)
        #: Entered around every invocation: the virtual clock counts a running Lambda as work.
        self._activity = activity
        #: Called with (function, event) before each invocation: tests change the world
        #: "between two steps" (a kill switch set while a workflow runs).
        self.before_invoke: list[Callable[[str, Any], None]] = []
        #: Entered around a handler with its function's name: its calls are checked
        #: against that function's role (local/iam_enforcement.py).
        self.acting_as: Callable[[str], AbstractContextManager[None]] = lambda _name: nullcontext()

    def register(self, deployed_name: str, fn: FunctionSpec) -> None:
        self._handlers[deployed_name] = (fn, load_handler(fn))

    def handler_for(self, name: str) -> Handler:
        """Call a function directly, as an AWS service integration would (IoT rule -> Lambda)."""
        for spec, handler in self._handlers.values():
            if spec.name == name:
                ctx = LambdaContext(
                    function_name=name,
                    invoked_function_arn=f"local:{name}",
                    memory_limit_in_mb=spec.memory_mb,
                    timeout_seconds=spec.timeout_seconds,
                    aws_request_id=str(uuid.uuid4()),
                )
                return self._counted(handler, ctx)
        raise KeyError(f"no function {name!r}")

    def _counted(self, handler: Handler, ctx: LambdaContext) -> Handler:
        def invoke(event: dict[str, Any], _context: Any) -> Any:
            with self._activity(), self.acting_as(ctx.function_name):
                return handler(event, ctx)

        return invoke

    def _run(self, fn_model: LambdaFunction, event: Any) -> tuple[str, bool, str]:
        entry = self._handlers.get(fn_model.function_name)
        if entry is None:
            return json.dumps({"statusCode": 200}), False, ""
        spec, handler = entry
        if isinstance(event, str):
            event = json.loads(event or "{}")
        context = LambdaContext(
            function_name=fn_model.function_name,
            invoked_function_arn=fn_model.function_arn,
            memory_limit_in_mb=spec.memory_mb,
            timeout_seconds=spec.timeout_seconds,
            aws_request_id=str(uuid.uuid4()),
            log_group_name=f"/aws/lambda/{fn_model.function_name}",
        )
        for hook in list(self.before_invoke):
            hook(spec.name, event)
        try:
            with self._activity(), self.acting_as(spec.name):
                result = handler(event, context)
        except Exception as exc:  # a Lambda turns every exception into a FunctionError
            self.invocations.append((spec.name, type(exc).__name__))
            payload = {
                "errorType": type(exc).__name__,
                "errorMessage": str(exc),
                "stackTrace": traceback.format_exception(exc)[-3:],
            }
            return json.dumps(payload), True, ""
        try:
            text = json.dumps(result)
        except (TypeError, ValueError, RecursionError) as exc:
            # What the Python runtime answers, a function error the workflow catches (were
            # it raised here, moto would fail the task with States.Runtime, caught by nothing).
            self.invocations.append((spec.name, "Runtime.MarshalError"))
            payload = {
                "errorType": "Runtime.MarshalError",
                "errorMessage": f"Unable to marshal response: {exc}",
                "stackTrace": [],
            }
            return json.dumps(payload), True, ""
        self.invocations.append((spec.name, "ok"))
        return text, False, ""

    @contextmanager
    def installed(self) -> Iterator[InProcessLambdas]:
        adapter = self

        def invoke(self: LambdaFunction, event: Any = None) -> tuple[str, bool, str]:
            return adapter._run(self, event)

        with mock.patch.object(LambdaFunction, "_invoke_lambda", invoke):
            yield self
