"""CloudTrail's event history (`LookupEvents`) for the management events selfheal reads,
which moto 5.2 does not implement: when a Lambda alias was last pointed at a version, and
who changed an IAM policy (the daily security checks).

A Lambda alias carries no timestamp (GetAlias returns no LastModified), so the time of an
alias change is known in AWS only from CloudTrail: `CreateAlias20150331` /
`UpdateAlias20150331` events (Lambda's event names carry the API version) with
`requestParameters` {functionName, name, functionVersion}. Each successful CreateAlias /
UpdateAlias on moto's Lambda backend is recorded here at virtual time. Each successful IAM
call on moto's IAM backend that changes what a principal may do (`IAM_EVENTS`: a policy,
PutUserPolicy, AttachRolePolicy, ...; a group membership; a new access key; a console
password) is recorded the same way, event source `iam.amazonaws.com`, its parameters as
CloudTrail writes them (camelCase, a password left out), whoever made it (the world, an
operator, the pipeline creating its roles). LookupEvents answers as AWS does, refusing
what AWS refuses:

- at most one lookup attribute, of the keys AWS knows (`InvalidLookupAttributesException`);
- StartTime after EndTime (`InvalidTimeRangeException`); MaxResults 1..50
  (`InvalidMaxResultsException`); an unknown NextToken (`InvalidNextTokenException`);
- newest first; only the last 90 days are kept (Event history).
"""

from __future__ import annotations

import functools
import inspect
import json
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from unittest import mock

from moto.awslambda.models import LambdaBackend
from moto.iam.models import IAMBackend
from selfheal_shared.core import clock as shared_clock

from .aws_validation import AwsError

#: Event history keeps 90 days of management events.
RETENTION = timedelta(days=90)
MAX_RESULTS = 50
LOOKUP_KEYS = (
    "EventId",
    "EventName",
    "ReadOnly",
    "Username",
    "ResourceType",
    "ResourceName",
    "EventSource",
    "AccessKeyId",
)
#: Lambda's CloudTrail event names for the alias calls.
ALIAS_EVENTS = {"create_alias": "CreateAlias20150331", "update_alias": "UpdateAlias20150331"}
#: moto's IAM backend methods that change what a principal may do, and their event names.
IAM_EVENTS = {
    "put_user_policy": "PutUserPolicy",
    "put_role_policy": "PutRolePolicy",
    "put_group_policy": "PutGroupPolicy",
    "attach_user_policy": "AttachUserPolicy",
    "attach_role_policy": "AttachRolePolicy",
    "attach_group_policy": "AttachGroupPolicy",
    "detach_user_policy": "DetachUserPolicy",
    "detach_role_policy": "DetachRolePolicy",
    "detach_group_policy": "DetachGroupPolicy",
    "delete_user_policy": "DeleteUserPolicy",
    "delete_role_policy": "DeleteRolePolicy",
    "delete_group_policy": "DeleteGroupPolicy",
    "create_policy": "CreatePolicy",
    "create_policy_version": "CreatePolicyVersion",
    "delete_policy": "DeletePolicy",
    "delete_policy_version": "DeletePolicyVersion",
    "set_default_policy_version": "SetDefaultPolicyVersion",
    "update_assume_role_policy": "UpdateAssumeRolePolicy",
    "add_user_to_group": "AddUserToGroup",
    "remove_user_from_group": "RemoveUserFromGroup",
    "create_access_key": "CreateAccessKey",
    "create_login_profile": "CreateLoginProfile",
    "update_login_profile": "UpdateLoginProfile",
}
#: Parameters CloudTrail leaves out of `requestParameters` here: the documents themselves,
#: and a password (CloudTrail writes HIDDEN_DUE_TO_SECURITY_REASONS).
IAM_UNRECORDED = {"policy_json", "policy_document", "tags", "password"}


def _epoch(value: Any, name: str) -> datetime | None:
    if value is None:
        return None
    try:
        return datetime.fromtimestamp(float(value), UTC)
    except (TypeError, ValueError):
        raise AwsError("ValidationException", f"{name}: not a timestamp") from None


@dataclass
class EventHistory:
    events: list[dict[str, Any]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def record(
        self, name: str, source: str, resources: list[dict[str, str]], detail: dict[str, Any]
    ) -> None:
        at = shared_clock.now()
        event_id = str(uuid.uuid4())
        full = {
            "eventVersion": "1.08",
            "eventTime": at.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "eventSource": source,
            "eventName": name,
            "eventID": event_id,
            "readOnly": False,
            "eventType": "AwsApiCall",
            "managementEvent": True,
            **detail,
        }
        with self._lock:
            self.events.append(
                {
                    "EventId": event_id,
                    "EventName": name,
                    "ReadOnly": "false",
                    "EventTime": at.timestamp(),
                    "EventSource": source,
                    "Username": "local",
                    "Resources": resources,
                    "CloudTrailEvent": json.dumps(full),
                }
            )

    def lookup(self, body: dict[str, Any], now: datetime) -> dict[str, Any]:
        attributes = body.get("LookupAttributes") or []
        if len(attributes) > 1:
            raise AwsError(
                "InvalidLookupAttributesException",
                "You cannot specify more than one lookup attribute per request.",
            )
        for attr in attributes:
            if attr.get("AttributeKey") not in LOOKUP_KEYS:
                raise AwsError(
                    "InvalidLookupAttributesException",
                    f"AttributeKey {attr.get('AttributeKey')!r} is not supported",
                )
        start = _epoch(body.get("StartTime"), "StartTime")
        end = _epoch(body.get("EndTime"), "EndTime")
        if start and end and start > end:
            raise AwsError("InvalidTimeRangeException", "StartTime is after EndTime")
        limit = int(body.get("MaxResults", MAX_RESULTS))
        if not 1 <= limit <= MAX_RESULTS:
            raise AwsError("InvalidMaxResultsException", "MaxResults must be 1..50")
        oldest = now - RETENTION
        with self._lock:
            found = [
                e
                for e in reversed(self.events)
                if e["EventTime"] >= oldest.timestamp()
                and (start is None or e["EventTime"] >= start.timestamp())
                and (end is None or e["EventTime"] <= end.timestamp())
                and all(_matches(e, a) for a in attributes)
            ]
        offset = 0
        if body.get("NextToken"):
            try:
                offset = int(str(body["NextToken"]).removeprefix("local-"))
            except ValueError:
                raise AwsError("InvalidNextTokenException", "invalid NextToken") from None
        page = found[offset : offset + limit]
        out: dict[str, Any] = {"Events": page}
        if offset + limit < len(found):
            out["NextToken"] = f"local-{offset + limit}"
        return out

    def _iam_recorded(self, name: str, method: Callable[..., Any]) -> Callable[..., Any]:
        return _iam_call(self, name, method)

    @contextmanager
    def recording(self) -> Iterator[None]:
        """Record each successful CreateAlias / UpdateAlias on moto's Lambda backend, and
        each IAM policy change on moto's IAM backend."""

        def recorded(name: str, method: Callable[..., Any]) -> Callable[..., Any]:
            @functools.wraps(method)
            def call(backend: LambdaBackend, *args: Any, **kwargs: Any) -> Any:
                alias = method(backend, *args, **kwargs)
                function = str(alias.arn).rsplit(":", 1)[0]
                self.record(
                    ALIAS_EVENTS[name],
                    "lambda.amazonaws.com",
                    [{"ResourceType": "AWS::Lambda::Function", "ResourceName": function}],
                    {
                        "awsRegion": backend.region_name,
                        "recipientAccountId": backend.account_id,
                        "requestParameters": {
                            "functionName": function,
                            "name": alias.name,
                            "functionVersion": alias.function_version,
                        },
                        "responseElements": alias.to_json(),
                    },
                )
                return alias

            return call

        patches = [
            mock.patch.object(LambdaBackend, name, recorded(name, getattr(LambdaBackend, name)))
            for name in ALIAS_EVENTS
        ]
        patches += [
            mock.patch.object(IAMBackend, name, self._iam_recorded(name, getattr(IAMBackend, name)))
            for name in IAM_EVENTS
        ]
        for patch in patches:
            patch.start()
        try:
            yield
        finally:
            for patch in reversed(patches):
                patch.stop()


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(w.title() for w in rest)


def _iam_call(history: EventHistory, name: str, method: Callable[..., Any]) -> Callable[..., Any]:
    """`method` of moto's IAM backend, recorded once it succeeded."""
    signature = inspect.signature(method)

    @functools.wraps(method)
    def call(backend: IAMBackend, *args: Any, **kwargs: Any) -> Any:
        out = method(backend, *args, **kwargs)
        bound = signature.bind(backend, *args, **kwargs).arguments
        params = {
            _camel(k): v
            for k, v in bound.items()
            if k != "self" and k not in IAM_UNRECORDED and isinstance(v, str | bool)
        }
        names = [params.get(k) for k in ("roleName", "userName", "groupName", "policyArn")]
        history.record(
            IAM_EVENTS[name],
            "iam.amazonaws.com",
            [{"ResourceType": "AWS::IAM::Policy", "ResourceName": str(n)} for n in names if n],
            {
                "awsRegion": "us-east-1",
                "recipientAccountId": backend.account_id,
                "requestParameters": params,
                "responseElements": None,
            },
        )
        return out

    return call


def _matches(event: dict[str, Any], attribute: dict[str, Any]) -> bool:
    key, value = str(attribute.get("AttributeKey")), attribute.get("AttributeValue")
    if key in ("ResourceType", "ResourceName"):
        return any(r.get(key) == value for r in event.get("Resources", []))
    return bool(event.get(key) == value)
