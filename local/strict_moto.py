"""moto's Step Functions, made as strict as AWS where moto 5.2 is laxer.

moto's interpreter backend (`execute_state_machine`) does not check an execution's name
(its code says "TODO: validate name format"), takes a SendTaskSuccess output that is not
JSON (the waiting task then fails inside the execution and the token is gone), and its
SendTaskFailure response drops the `cause`. The checks are `local/aws_validation.py`'s,
run here right before moto's own, so boto3 in-process and `selfheal serve` (the AWS CLI
over HTTP) both get AWS's error codes, as AWS-shaped JSON errors.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar, cast
from unittest import mock

from moto.core.exceptions import AWSError
from moto.core.responses import EmptyResult
from moto.stepfunctions.parser.models import StepFunctionsParserBackend
from moto.stepfunctions.responses import StepFunctionResponse

from . import aws_validation
from .aws_validation import AwsError

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
            aws_validation.check_execution_input(execution_input)
        return original_start(backend, state_machine_arn, name, execution_input, trace_header)

    @_as_moto_error
    def send_task_success(
        backend: StepFunctionsParserBackend, task_token: str, outcome: Any
    ) -> Any:
        aws_validation.check_task_output(outcome if outcome is not None else "")
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

    with (
        mock.patch.object(StepFunctionsParserBackend, "start_execution", start_execution),
        mock.patch.object(StepFunctionsParserBackend, "send_task_success", send_task_success),
        mock.patch.object(StepFunctionsParserBackend, "send_task_failure", send_task_failure),
        mock.patch.object(StepFunctionResponse, "send_task_failure", respond_task_failure),
    ):
        yield
