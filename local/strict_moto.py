"""moto's Step Functions, made as strict as AWS where moto 5.2 is laxer.

moto's interpreter backend (`execute_state_machine`) does not check an execution's name
(its code says "TODO: validate name format"), takes a SendTaskSuccess output that is not
JSON (the waiting task then fails inside the execution and the token is gone), and its
SendTaskFailure response drops the `cause`. The checks are `local/aws_validation.py`'s,
run here right before moto's own, so boto3 in-process and `selfheal serve` (the AWS CLI
over HTTP) both get AWS's error codes, as AWS-shaped JSON errors.

Two more places where moto is kinder than AWS, so a workflow green here would fail there:

- its `States.ALL` catches every error. AWS's catches neither `States.Runtime` (a path
  that is not there, an input its paths cannot read: "will always cause the execution to
  fail") nor `States.DataLimitExceeded`, so such an execution ends FAILED with no
  escalation. Here too, so the suite sees it (issue 19).
- its interpreter deep-copies each state's input recursively, so an input nested more than
  about 450 levels (measured) fails the execution with `States.Runtime` before its first
  state, where AWS would run it and `Claim` would refuse it. An input deeper than
  `INTERPRETER_MAX_DEPTH` is refused at the door instead, as one too deep for the JSON
  parser already was (`InvalidExecutionInput`, "nested too deep to read"): routed by
  EventBridge, it is kept in the rule's dead-letter queue. A documented local limit.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar, cast
from unittest import mock

from moto.awslambda.exceptions import LambdaClientError
from moto.awslambda.models import LambdaBackend
from moto.core.exceptions import AWSError
from moto.core.responses import EmptyResult
from moto.stepfunctions.parser.asl.component.common.error_name.error_equals_decl import (
    ErrorEqualsDecl,
)
from moto.stepfunctions.parser.asl.eval.environment import Environment
from moto.stepfunctions.parser.models import StepFunctionsParserBackend
from moto.stepfunctions.responses import StepFunctionResponse
from selfheal_shared.core.input_bounds import nesting_depth

from . import aws_validation
from .aws_validation import AwsError

#: Well inside what moto's recursive deep copy of a state's input survives (about 450).
INTERPRETER_MAX_DEPTH = 256
#: Errors `States.ALL` does not match in AWS ("Error handling in Step Functions").
NOT_CAUGHT_BY_ALL = frozenset({"States.Runtime", "States.DataLimitExceeded"})
#: Retried and caught by nothing, not even by name: "A States.Runtime error isn't retriable".
NEVER_CAUGHT = frozenset({"States.Runtime"})

F = TypeVar("F", bound=Callable[..., Any])


def _as_moto_error(fn: F) -> F:
    """An `AwsError` leaves as moto's own error type, which moto's responses turn into the
    JSON protocol's error (HTTP 400, `{"__type", "message"}`)."""

    @functools.wraps(fn)
    def run(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except AwsError as exc:
            raise AWSError(exc.message, exception_type=exc.code, status=exc.status) from None

    return run  # type: ignore[return-value]


def check_execution_input(text: str) -> None:
    """StartExecution's input as AWS checks it (`aws_validation`), and no deeper than this
    interpreter can hold."""
    aws_validation.check_execution_input(text)
    _readable(text, "InvalidExecutionInput", "Invalid State Machine Execution Input")


def _readable(text: str, code: str, message: str) -> None:
    if nesting_depth(text) > INTERPRETER_MAX_DEPTH:
        raise AwsError(
            code, f"{message}: 'nested too deep to read' (over {INTERPRETER_MAX_DEPTH} levels)"
        )


def _matches(decl: ErrorEqualsDecl, env: Environment, original: Callable[..., None]) -> None:
    """A Retrier's or Catcher's `ErrorEquals` as AWS reads it: the error on the stack is
    replaced by whether this declaration takes it."""
    name = str(getattr(env.stack[-1], "error_name", ""))
    names = {str(getattr(n, "error_name", "")) for n in decl.error_names}
    if name in NEVER_CAUGHT or (name in NOT_CAUGHT_BY_ALL and name not in names):
        env.stack.pop()
        env.stack.append(False)
        return
    original(decl, env)


@contextmanager
def step_functions() -> Iterator[None]:
    original_start = StepFunctionsParserBackend.start_execution
    original_success = StepFunctionsParserBackend.send_task_success
    original_failure = StepFunctionsParserBackend.send_task_failure

    @_as_moto_error
    def start_execution(
        backend: StepFunctionsParserBackend,
        state_machine_arn: str,
        name: Any = None,
        execution_input: Any = None,
        trace_header: Any = None,
    ) -> Any:
        if name is not None:
            aws_validation.check_execution_name(name)
        if execution_input is not None:
            check_execution_input(execution_input)
        return original_start(backend, state_machine_arn, name, execution_input, trace_header)

    @_as_moto_error
    def send_task_success(
        backend: StepFunctionsParserBackend, task_token: str, outcome: Any
    ) -> Any:
        aws_validation.check_task_output(outcome if outcome is not None else "")
        _readable(outcome or "", "InvalidOutput", "The provided JSON output data is not valid")
        return original_success(backend, task_token, outcome)

    @_as_moto_error
    def send_task_failure(
        backend: StepFunctionsParserBackend,
        task_token: str,
        error: Any = None,
        cause: Any = None,
    ) -> Any:
        aws_validation.check_task_failure(error, cause)
        return original_failure(backend, task_token, error, cause)

    def respond_task_failure(response: StepFunctionResponse) -> EmptyResult:
        # moto's own response passes the error only: the cause given is dropped.
        backend = cast(StepFunctionsParserBackend, response.stepfunction_backend)
        backend.send_task_failure(
            response._get_param("taskToken"),
            error=response._get_param("error"),
            cause=response._get_param("cause"),
        )
        return EmptyResult()

    original_matches = ErrorEqualsDecl._eval_body

    def matches(decl: ErrorEqualsDecl, env: Environment) -> None:
        _matches(decl, env, original_matches)

    with (
        mock.patch.object(ErrorEqualsDecl, "_eval_body", matches),
        mock.patch.object(StepFunctionsParserBackend, "start_execution", start_execution),
        mock.patch.object(StepFunctionsParserBackend, "send_task_success", send_task_success),
        mock.patch.object(StepFunctionsParserBackend, "send_task_failure", send_task_failure),
        mock.patch.object(StepFunctionResponse, "send_task_failure", respond_task_failure),
    ):
        yield


class _VersionInUse(LambdaClientError):
    code = 409

    def __init__(self, message: str) -> None:
        super().__init__("ResourceConflictException", message)


def _weighted(alias: Any) -> dict[str, Any]:
    """The versions an alias routes a weight to (moto keeps the RoutingConfig as given)."""
    config = alias.routing_config
    weights = config.get("AdditionalVersionWeights") if isinstance(config, dict) else None
    return weights if isinstance(weights, dict) else {}


@contextmanager
def lambda_versions() -> Iterator[None]:
    """AWS refuses to delete a version an alias points to (or routes a weight to) with
    ResourceConflictException; moto deletes it and leaves the alias dangling."""
    original = LambdaBackend.delete_function

    def delete_function(
        backend: LambdaBackend, function_name: str, qualifier: str | None = None
    ) -> None:
        if qualifier and qualifier.isdigit():
            name = (
                function_name.split(":")[6] if function_name.startswith("arn:") else function_name
            )
            using = [
                alias.name
                for alias in backend.list_aliases(name)
                if alias.function_version == qualifier or qualifier in _weighted(alias)
            ]
            if using:
                raise _VersionInUse(
                    f"Unable to delete version because the following aliases reference it: {using}"
                )
        original(backend, function_name, qualifier)

    with mock.patch.object(LambdaBackend, "delete_function", delete_function):
        yield
