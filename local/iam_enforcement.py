"""Every AWS call a handler or a state machine makes locally, authorized against the role
the CDK synthesizes for it (`local/role_policies.json`, written by `make policies`).

moto enforces no IAM for our in-process clients, so a grant missing from a function's
`function.json` would stay green here and fail with AccessDenied in an account. While a
Lambda handler runs, the adapter names its function (`acting_as`); every call the shared
client factory's clients make is then checked before it leaves botocore, and a call the role
does not grant fails with the error AWS gives (`AccessDeniedException`, `AccessDenied`,
`AuthorizationError`), whichever stand-in would have answered it. The state machines' own
calls (Lambda tasks) are checked against the state machine's role the same way. Calls made
outside any handler (the world, the operator CLI, tests) are an administrator's and pass.

Each function also sees only the environment variables the CDK gives it
(`selfheal_shared.core.config.environ`): a topic it has no variable for is a topic it cannot name.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .iam_policy import Policy, Request, TagLookup
from .iam_requests import IAM_PREFIX, Where, requests

POLICIES = Path(__file__).with_name("role_policies.json")
#: The function or state machine whose role is making the calls on this thread.
_principal: ContextVar[Principal | None] = ContextVar("selfheal_principal", default=None)
#: The one replaceable check on a kept client (`Enforcer.watch(replace=True)`).
_STATE_WATCH_ID = "selfheal-iam-state-check"
#: Error code AWS answers an unauthorized call with, by IAM prefix (JSON services:
#: AccessDeniedException).
DENIED_CODE = {
    "sns": "AuthorizationError",
    "sqs": "AccessDenied",
    "s3": "AccessDenied",
    "cloudwatch": "AccessDenied",
    "iam": "AccessDenied",
    "sts": "AccessDenied",
}
#: Variables that name a resource of the stacks (tables, topics, buckets, the training
#: role and image): a function sees only those the CDK gives it.
RESOURCE_VARIABLES = (
    "SELFHEAL_TABLE_",
    "SELFHEAL_TOPIC_",
    "SELFHEAL_BUCKET_",
    "SELFHEAL_TRAINING_",
)
#: A directory: every pipeline appends the calls it checked there (tests/contract report).
RECORD_ENV = "SELFHEAL_IAM_RECORD"


@dataclass(frozen=True)
class Principal:
    kind: str  # function | stateMachine
    name: str
    role: str
    policy: Policy
    #: For a function: the SELFHEAL_* variables its configuration sets.
    environment: frozenset[str] = frozenset()


@dataclass
class Observed:
    """Every call checked, for the grants-vs-calls report (tests/contract)."""

    calls: set[tuple[str, str, str, str, bool]] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, principal: Principal, request: Request, allowed: bool) -> None:
        with self.lock:
            self.calls.add(
                (principal.kind, principal.name, request.action, request.resource, allowed)
            )


class Enforcer:
    """The roles of one pipeline, resolved to its local names."""

    def __init__(
        self,
        *,
        names: Mapping[str, str],
        role_name: Callable[[str, str], str],
        where: Where,
        tags: TagLookup,
        policies: Mapping[str, Any] | None = None,
    ) -> None:
        data = policies if policies is not None else json.loads(POLICIES.read_text())
        self.where, self._tags = where, tags
        self.functions = {
            name: Principal(
                "function",
                name,
                role_name("function", name),
                Policy.from_json(body["statements"], names),
                frozenset(body["environment"]),
            )
            for name, body in data["functions"].items()
        }
        self.state_machines = {
            name: Principal(
                "stateMachine",
                name,
                role_name("stateMachine", name),
                Policy.from_json(body["statements"], names),
            )
            for name, body in data["stateMachines"].items()
        }
        self._by_role = {
            p.role: p for p in [*self.functions.values(), *self.state_machines.values()]
        }
        self.observed = Observed()
        self.denied: list[str] = []

    def principal_for_role(self, role_arn: str) -> Principal | None:
        return self._by_role.get(role_arn.rsplit("/", 1)[-1])

    @contextmanager
    def acting_as(self, function: str) -> Iterator[None]:
        """Calls on this thread are the function's, until the handler returns."""
        principal = self.functions.get(function)
        if principal is None:
            raise KeyError(f"no synthesized role for function {function!r}: run `make policies`")
        token = _principal.set(principal)
        try:
            yield
        finally:
            _principal.reset(token)

    # -- the check -----------------------------------------------------------------

    def refused(
        self, principal: Principal, signing_name: str, operation: str, params: Mapping[str, Any]
    ) -> list[str]:
        """The resources of a call the role may not touch, asked without making the call (a
        question, not an attempt: nothing is recorded)."""
        return [
            r.resource
            for r in requests(signing_name, operation, params, self.where)
            if not principal.policy.allows(r, self._tags)
        ]

    def check(
        self, principal: Principal, signing_name: str, operation: str, params: Mapping[str, Any]
    ) -> str | None:
        """The denial message, or None when the role allows every part of the call."""
        for request in requests(signing_name, operation, params, self.where):
            allowed = principal.policy.allows(request, self._tags)
            self.observed.add(principal, request, allowed)
            if not allowed:
                role = f"{principal.role}/{principal.name}"
                who = f"arn:aws:sts::{self.where.account}:assumed-role/{role}"
                message = (
                    f"User: {who} is not authorized to perform: {request.action} on resource: "
                    f"{request.resource} because no identity-based policy allows the "
                    f"{request.action} action"
                )
                self.denied.append(message)
                return message
        return None

    def watch(
        self, client: Any, principal: Principal | None = None, *, replace: bool = False
    ) -> None:
        """Check every call of `client`: as `principal`, or as whoever is acting on the
        calling thread when None. `replace`: instead of the check an earlier pipeline's
        enforcer put on it (a state machine's client, kept for every pipeline of the process:
        `moto_extensions`)."""

        def before(params: dict[str, Any], model: Any, **_: Any) -> None:
            actor = principal or _principal.get()
            if actor is None:
                return
            signing = model.service_model.signing_name
            message = self.check(actor, signing, model.name, params)
            if message is not None:
                code = DENIED_CODE.get(IAM_PREFIX.get(signing, signing), "AccessDeniedException")
                if signing == "iotdata":
                    code = "ForbiddenException"
                error = {
                    "Error": {"Code": code, "Message": message},
                    "ResponseMetadata": {"HTTPStatusCode": 403},
                }
                raise client.exceptions.from_code(code)(error, model.name)

        if not replace:
            client.meta.events.register("before-parameter-build", before)
            return
        client.meta.events.unregister("before-parameter-build", unique_id=_STATE_WATCH_ID)
        client.meta.events.register("before-parameter-build", before, unique_id=_STATE_WATCH_ID)

    # -- environment -----------------------------------------------------------------

    def environ(self) -> Mapping[str, str]:
        """What `os.environ` is for the acting function: of the variables that name a
        resource of the stacks, only those its configuration sets. Tunables (thresholds,
        paging overrides) an operator sets on the function pass as they are."""
        actor = _principal.get()
        if actor is None or actor.kind != "function":
            return os.environ
        return {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(RESOURCE_VARIABLES) or k in actor.environment
        }

    def save(self, directory: Path) -> None:
        """Append what was checked to `<directory>/<pid>.jsonl` (the suite's grants report
        reads every worker's file)."""
        directory.mkdir(parents=True, exist_ok=True)
        with self.observed.lock, (directory / f"{os.getpid()}.jsonl").open("a") as out:
            for kind, name, action, resource, allowed in sorted(self.observed.calls):
                row = {"kind": kind, "name": name, "action": action, "resource": resource}
                out.write(json.dumps(row | {"allowed": allowed}) + "\n")

    @contextmanager
    def installed(self) -> Iterator[Enforcer]:
        """Watch every client the shared factory makes, and give functions their own
        environment, for the pipeline's life."""
        from selfheal_shared.core import clients, config

        with ExitStack() as stack:
            clients.observers.append(self.watch)
            stack.callback(clients.observers.remove, self.watch)
            previous = config.environ
            config.environ = self.environ
            stack.callback(setattr, config, "environ", previous)
            record = os.environ.get(RECORD_ENV)
            if record:
                stack.callback(self.save, Path(record))
            yield self
