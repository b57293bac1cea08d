"""What AWS refuses, checked before a local stand-in (moto, the runtime's own PutEvents) sees
the request: a local answer must be at least as strict as AWS's, with AWS's error codes.

One place for both ways in: the in-process runtime (boto3 through moto's stubber) and
`selfheal serve` (the AWS CLI over HTTP) call these same functions (`local/moto_extensions.py`
for EventBridge, `local/strict_moto.py` for Step Functions). They are pure: a request's
fields in, an `AwsError` (or a per-entry `EntryError`) out. The limits are AWS's, named,
from the API references:

- EventBridge `PutEvents` / `PutEventsRequestEntry` / `PutEventsResultEntry`, and the User
  Guide's "Calculating PutEvents event entry size";
- Step Functions `StartExecution`, `SendTaskSuccess`, `SendTaskFailure` (the shapes `Name`,
  `SensitiveData`, `SensitiveError`, `SensitiveCause` of the service model).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

# -- errors --------------------------------------------------------------------------------


class AwsError(Exception):
    """An error answer of AWS's JSON protocol: HTTP `status` with `{"__type", "message"}`,
    which the AWS CLI prints as `An error occurred (<code>) when calling the <Op> operation:
    <message>` and boto3 raises as a `ClientError` with that code."""

    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.status = status

    def body(self) -> dict[str, str]:
        return {"__type": self.code, "message": self.message}


@dataclass(frozen=True)
class EntryError:
    """Why EventBridge failed one `PutEvents` entry: the others are still put."""

    code: str
    message: str

    def result(self) -> dict[str, str]:
        """The entry's `PutEventsResultEntry`."""
        return {"ErrorCode": self.code, "ErrorMessage": self.message}

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"


def _parse_json(text: str) -> tuple[Any, str | None]:
    """The JSON value of `text` and None, or None and why it is not JSON. Strict JSON:
    Python's `NaN`/`Infinity` extensions are refused, and nesting too deep to read is a
    refusal, not a crash."""

    def no_constant(name: str) -> Any:
        raise ValueError(f"{name} is not a JSON value")

    try:
        return json.loads(text, parse_constant=no_constant), None
    except RecursionError:
        return None, "nested too deep to read"
    except ValueError as exc:
        return None, str(exc)


def _json_problem(text: str) -> str | None:
    return _parse_json(text)[1]


def _utf8_bytes(text: str) -> int:
    return len(text.encode("utf-8", errors="surrogatepass"))


# -- EventBridge PutEvents -----------------------------------------------------------------

#: `Entries`: "Array Members: Minimum number of 1 item. Maximum number of 10 items."
PUT_EVENTS_MIN_ENTRIES = 1
PUT_EVENTS_MAX_ENTRIES = 10
#: "the total entry size must be less than 256KB", the sizes counted by `entry_size`.
PUT_EVENTS_MAX_TOTAL_BYTES = 256 * 1024
#: "If specified, the Time parameter is 14 bytes."
ENTRY_TIME_BYTES = 14
#: "Detail, DetailType, and Source are required ... EventBridge fails that entry."
ENTRY_REQUIRED = ("Source", "DetailType", "Detail")


def entry_size(entry: Mapping[str, Any]) -> int:
    """An entry's size as EventBridge counts it (User Guide, "Calculating PutEvents event
    entry size"): `Time` 14 bytes if given, plus the UTF-8 bytes of `Source`, `DetailType`,
    `Detail` and each of `Resources`. `EventBusName`, `TraceHeader` and the JSON around the
    values do not count."""
    size = ENTRY_TIME_BYTES if entry.get("Time") is not None else 0
    for key in ENTRY_REQUIRED:
        value = entry.get(key)
        size += _utf8_bytes(value) if isinstance(value, str) else 0
    resources = entry.get("Resources")
    if isinstance(resources, list):
        size += sum(_utf8_bytes(r) for r in resources if isinstance(r, str))
    return size


def put_events_entries(body: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The request's entries, or the `ValidationException` AWS answers for the whole
    request: no entries, more than 10, or more than 256 KB of entries in all."""
    entries = body.get("Entries")
    if entries is None:
        raise AwsError(
            "ValidationException",
            "1 validation error detected: Value null at 'entries' failed to satisfy "
            "constraint: Member must not be null",
        )
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise AwsError("ValidationException", "Entries: a list of PutEventsRequestEntry")
    if not PUT_EVENTS_MIN_ENTRIES <= len(entries) <= PUT_EVENTS_MAX_ENTRIES:
        bound = (
            f"greater than or equal to {PUT_EVENTS_MIN_ENTRIES}"
            if len(entries) < PUT_EVENTS_MIN_ENTRIES
            else f"less than or equal to {PUT_EVENTS_MAX_ENTRIES}"
        )
        raise AwsError(
            "ValidationException",
            f"1 validation error detected: Value '[PutEventsRequestEntry x {len(entries)}]' "
            f"at 'entries' failed to satisfy constraint: Member must have length {bound}",
        )
    total = sum(entry_size(e) for e in entries)
    if total > PUT_EVENTS_MAX_TOTAL_BYTES:
        raise AwsError(
            "ValidationException",
            f"Total size of the entries in the request is over the limit: {total} bytes, "
            f"at most {PUT_EVENTS_MAX_TOTAL_BYTES} (Time 14 bytes, Source, DetailType, "
            "Detail and each resource as UTF-8 bytes)",
        )
    return [dict(e) for e in entries]


def entry_error(entry: Mapping[str, Any]) -> EntryError | None:
    """Why EventBridge fails this entry (None: it is put). Messages as AWS words them; a
    Detail that is JSON but not an object is malformed too ("A valid JSON object")."""
    for key in ENTRY_REQUIRED:
        value = entry.get(key)
        if not isinstance(value, str) or not value:
            return EntryError(
                "InvalidArgument",
                f"Parameter {key} is not valid. Reason: {key} is a required argument.",
            )
    value, problem = _parse_json(entry["Detail"])
    if problem is None and not isinstance(value, dict):
        kind = type(value).__name__
        problem = f"a JSON object is required, not {_JSON_KIND.get(kind, kind)}"
    if problem is not None:
        return EntryError("MalformedDetail", f"Detail is malformed: {problem}.")
    return None


_JSON_KIND = {"list": "an array", "str": "a string", "int": "a number", "float": "a number",
              "bool": "a boolean", "NoneType": "null"}  # fmt: skip


def event_refusal(event: Mapping[str, Any]) -> AwsError | EntryError | None:
    """What EventBridge answers the `PutEvents` that would carry `event` (an event as the
    runtime routes it: `source`, `detail-type`, `detail`, `resources`, `time`), or None when
    it is put. One door for in-process events (tests, `replay`, the world) and the entries
    `selfheal serve` takes: over 256 KB is the request's `ValidationException`; a detail
    that is not a JSON object, and any value that is not JSON (NaN, Infinity, nested too
    deep to write), is `MalformedDetail`: EventBridge delivers JSON only."""
    try:
        json.dumps(event, allow_nan=False)
        detail = json.dumps(event.get("detail"), allow_nan=False)
    except RecursionError:
        return EntryError("MalformedDetail", "Detail is malformed: nested too deep to write.")
    except (TypeError, ValueError) as exc:  # NaN / Infinity (Python's extensions), a set
        return EntryError("MalformedDetail", f"Detail is malformed: {exc}.")
    resources = event.get("resources")
    entry = {
        "Source": event.get("source"),
        "DetailType": event.get("detail-type"),
        "Detail": detail,
        "Resources": resources if isinstance(resources, list) else [],
        "Time": event.get("time"),
    }
    try:
        put_events_entries({"Entries": [entry]})
    except AwsError as exc:
        return exc
    return entry_error(entry)


def event_bus_name(name_or_arn: str | None) -> str:
    """The bus an entry names (`EventBusName` is a name or an event-bus ARN; none: default)."""
    return (name_or_arn or "default").rsplit("event-bus/", 1)[-1]


# -- Step Functions ------------------------------------------------------------------------

#: `Name`: "Length Constraints: Minimum length of 1. Maximum length of 80."
EXECUTION_NAME_MIN = 1
EXECUTION_NAME_MAX = 80
#: "A name must not contain: whitespace; brackets < > { } [ ]; wildcard characters ? *;
#: special characters " # % \ ^ | ~ ` $ & , ; : /; control characters (U+0000-001F,
#: U+007F-009F)."
EXECUTION_NAME_FORBIDDEN = frozenset('<>{}[]?*"#%\\^|~`$&,;:/')
CONTROL_CHARACTERS = (range(0x00, 0x20), range(0x7F, 0xA0))
#: `SensitiveData` (execution input, task output): "Maximum length of 262144", counted
#: as "bytes in UTF-8 encoding".
PAYLOAD_MAX_BYTES = 262_144
#: `SensitiveError` and `SensitiveCause` of SendTaskFailure.
TASK_ERROR_MAX = 256
TASK_CAUSE_MAX = 32_768


def _forbidden_in_name(name: str) -> str | None:
    for char in name:
        if char.isspace():
            return f"whitespace {char!r}"
        if char in EXECUTION_NAME_FORBIDDEN:
            return f"{char!r}"
        if any(ord(char) in span for span in CONTROL_CHARACTERS):
            return f"control character U+{ord(char):04X}"
    return None


def _too_long(field: str, limit: int) -> AwsError:
    return AwsError(
        "ValidationException",
        f"1 validation error detected: Value at '{field}' failed to satisfy constraint: "
        f"Member must have length less than or equal to {limit}",
    )


def check_execution_name(name: str) -> None:
    """StartExecution's `name`: a forbidden character is `InvalidName`; a length outside
    1-80 is the model's constraint, which AWS answers with `ValidationException` (as moto
    does for a state machine's name)."""
    if len(name) > EXECUTION_NAME_MAX:
        raise AwsError(
            "ValidationException",
            f"1 validation error detected: Value '{name}' at 'name' failed to satisfy "
            f"constraint: Member must have length less than or equal to {EXECUTION_NAME_MAX}",
        )
    if len(name) < EXECUTION_NAME_MIN:
        raise AwsError("InvalidName", "Invalid Name: '' (at least 1 character)")
    forbidden = _forbidden_in_name(name)
    if forbidden is not None:
        raise AwsError("InvalidName", f"Invalid Name: '{name}' (contains {forbidden})")


def check_execution_input(text: str) -> None:
    """StartExecution's `input`: JSON of at most 256 KB (UTF-8), else
    `InvalidExecutionInput`. Any JSON value is accepted, as AWS does: a workflow refuses
    an input that is not an object itself (its first state, `Claim`)."""
    size = _utf8_bytes(text)
    if size > PAYLOAD_MAX_BYTES:
        raise AwsError(
            "InvalidExecutionInput",
            f"Invalid State Machine Execution Input: {size} bytes, "
            f"at most {PAYLOAD_MAX_BYTES} (UTF-8)",
        )
    problem = _json_problem(text)
    if problem is not None:
        raise AwsError(
            "InvalidExecutionInput", f"Invalid State Machine Execution Input: '{problem}'"
        )


def check_task_output(text: str) -> None:
    """SendTaskSuccess's `output`: JSON of at most 256 KB, else `InvalidOutput` ("The
    provided JSON output data is not valid"). Refused before the token is used, so the
    task still waits and a valid answer later is taken."""
    size = _utf8_bytes(text)
    if size > PAYLOAD_MAX_BYTES:
        raise AwsError(
            "InvalidOutput",
            f"The provided JSON output data is not valid: {size} bytes, "
            f"at most {PAYLOAD_MAX_BYTES} (UTF-8)",
        )
    problem = _json_problem(text)
    if problem is not None:
        raise AwsError("InvalidOutput", f"The provided JSON output data is not valid: {problem}")


def check_task_failure(error: str | None, cause: str | None) -> None:
    """SendTaskFailure's `error` (at most 256) and `cause` (at most 32768 characters)."""
    if error is not None and len(error) > TASK_ERROR_MAX:
        raise _too_long("error", TASK_ERROR_MAX)
    if cause is not None and len(cause) > TASK_CAUSE_MAX:
        raise _too_long("cause", TASK_CAUSE_MAX)


#: ListCommands' filter keys (SSM API reference, CommandFilter).
SSM_COMMAND_FILTER_KEYS = frozenset(
    {"InvokedAfter", "InvokedBefore", "Status", "ExecutionStage", "DocumentName"}
)


def ssm_command_filter(filters: list[Mapping[str, Any]]) -> Callable[[Mapping[str, Any]], bool]:
    """The predicate of ListCommands' `Filters`, or SSM's `InvalidFilterKey` for a key it
    does not know (the times as SSM takes them: ISO 8601 in UTC)."""
    wanted: list[tuple[str, str]] = []
    for f in filters:
        key, value = str(f.get("key", "")), str(f.get("value", ""))
        if key not in SSM_COMMAND_FILTER_KEYS:
            raise AwsError("InvalidFilterKey", f"The specified key is not valid: {key}")
        wanted.append((key, value))

    def keep(command: Mapping[str, Any]) -> bool:
        for key, value in wanted:
            if key in ("InvokedAfter", "InvokedBefore"):
                at = datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
                after = float(command["RequestedDateTime"]) >= at
                if after != (key == "InvokedAfter"):
                    return False
            elif key in ("DocumentName", "Status") and command.get(key) != value:
                return False
        return True

    return keep


#: AWS-RunShellScript's parameters (the document's schema): each a list of strings.
RUN_SHELL_PARAMETERS = frozenset({"commands", "workingDirectory", "executionTimeout"})
SSM_MAX_CONCURRENCY = re.compile(r"([1-9][0-9]*|[1-9][0-9]%|[1-9]%|100%)")
SSM_MAX_ERRORS = re.compile(r"([1-9][0-9]*|0|[1-9][0-9]%|[0-9]%|100%)")
SSM_INSTANCE_ID = re.compile(r"(i-(\w{8}|\w{17})|mi-\w{17})")
SSM_TARGET_KEY = re.compile(r"[\w\s.:/=\-@+]{1,163}")


def _ssm_invalid(field: str, value: Any, constraint: str) -> AwsError:
    return AwsError(
        "ValidationException",
        f"1 validation error detected: Value '{value}' at '{field}' failed to satisfy "
        f"constraint: {constraint}",
    )


def ssm_send_command(body: Mapping[str, Any], found: Mapping[str, Any] | None = None) -> None:
    """SendCommand's checks, with SSM's codes: the fields' constraints
    (`ValidationException`), the document (`InvalidDocument`: AWS-RunShellScript or one of
    the account's, `found`) and its parameters (`InvalidParameters`)."""
    document = str(body.get("DocumentName", ""))
    if document != "AWS-RunShellScript" and found is None:
        raise AwsError("InvalidDocument", f"Document with name {document} does not exist.")
    comment = str(body.get("Comment", ""))
    if len(comment) > 100:
        raise _ssm_invalid("comment", comment, "Member must have length less than or equal to 100")
    timeout = body.get("TimeoutSeconds")
    if timeout is not None and not 30 <= int(timeout) <= 2_592_000:
        raise _ssm_invalid(
            "timeoutSeconds", timeout, "Member must have value between 30 and 2592000"
        )
    for field, rx in (("maxConcurrency", SSM_MAX_CONCURRENCY), ("maxErrors", SSM_MAX_ERRORS)):
        value = body.get(field[0].upper() + field[1:])
        if value is not None and not rx.fullmatch(str(value)):
            raise _ssm_invalid(
                field, value, f"Member must satisfy regular expression pattern: {rx.pattern}"
            )
    ids, targets = body.get("InstanceIds") or [], body.get("Targets") or []
    if not ids and not targets:
        raise AwsError("ValidationException", "Either InstanceIds or Targets must be specified.")
    if ids and targets:
        raise AwsError("InvalidParameters", "Specify either InstanceIds or Targets, not both.")
    for iid in ids:
        if not SSM_INSTANCE_ID.fullmatch(str(iid)):
            raise AwsError("InvalidInstanceId", f"Instances [[{iid}]] not in a valid state.")
    if len(targets) > 5:
        raise _ssm_invalid("targets", targets, "Member must have length less than or equal to 5")
    for t in targets:
        key, values = str(t.get("Key", "")), t.get("Values") or []
        if not SSM_TARGET_KEY.fullmatch(key) or not values or len(values) > 50:
            raise AwsError("InvalidTarget", f"Target {key}={values} is not valid.")
    params = body.get("Parameters") or {}
    if found is not None:
        check_parameters(dict(found), params)
        return
    unknown = sorted(set(params) - RUN_SHELL_PARAMETERS)
    if unknown:
        raise AwsError(
            "InvalidParameters", f"Parameter {unknown[0]} is not defined in the document."
        )
    commands = params.get("commands")
    if not commands:
        raise AwsError("InvalidParameters", "Parameter commands is required.")
    for name, value in params.items():
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise AwsError("InvalidParameters", f"Parameter {name} must be a list of strings.")
    timeout_values = params.get("executionTimeout") or []
    if timeout_values and not (
        timeout_values[0].isdigit() and 1 <= int(timeout_values[0]) <= 172_800
    ):
        raise AwsError("InvalidParameters", "Parameter executionTimeout is not valid.")


def check_parameters(content: dict[str, Any], params: Mapping[str, Any]) -> None:
    """SSM's checks of a document's parameters: each known, each a list of one string
    within `allowedValues` and matching `allowedPattern`, the required ones given
    (`InvalidParameters` otherwise)."""
    declared = content.get("parameters", {})
    for name, value in params.items():
        if name not in declared:
            raise AwsError("InvalidParameters", f"Parameter {name} is not defined in the document.")
        if not isinstance(value, list) or len(value) != 1 or not isinstance(value[0], str):
            raise AwsError("InvalidParameters", f"Parameter {name} must be one string.")
        allowed = declared[name].get("allowedValues")
        if allowed is not None and value[0] not in allowed:
            raise AwsError("InvalidParameters", f"Parameter {name} value is not allowed.")
        pattern = declared[name].get("allowedPattern")
        if pattern is not None and re.search(pattern, value[0]) is None:
            raise AwsError(
                "InvalidParameters", f"Parameter {name} value does not match allowedPattern."
            )
    for name, spec in declared.items():
        if name not in params and "default" not in spec:
            raise AwsError("InvalidParameters", f"Parameter {name} is required.")


# -- Timestream for InfluxDB ---------------------------------------------------------------

#: UpdateDbInstance's request (API reference, and botocore's `timestream-influxdb` model):
#: `identifier` required, 3-64 of [a-zA-Z0-9]; `dbInstanceType` one of the enum;
#: `allocatedStorage` 20-15360 GiB and "increase only"; `port` 1024-65535.
TSDB_IDENTIFIER = re.compile(r"^[a-zA-Z0-9]{3,64}$")
TSDB_FIELDS = frozenset(
    {"identifier", "logDeliveryConfiguration", "dbParameterGroupIdentifier", "port",
     "dbInstanceType", "deploymentType", "dbStorageType", "allocatedStorage",
     "maintenanceSchedule"}
)  # fmt: skip


def _tsdb_invalid(field: str, value: Any, constraint: str) -> AwsError:
    return AwsError(
        "ValidationException",
        f"1 validation error detected: Value '{value}' at '{field}' failed to satisfy "
        f"constraint: {constraint}",
    )


def timestream_update_db_instance(body: Mapping[str, Any], enums: Mapping[str, list[str]]) -> None:
    """What AWS refuses before it looks the instance up (`enums`: the model's enumerations
    by member name, from botocore)."""
    unknown = sorted(set(body) - TSDB_FIELDS)
    if unknown:
        raise AwsError("ValidationException", f"Unknown parameters: {', '.join(unknown)}")
    ident = body.get("identifier")
    if not isinstance(ident, str) or not TSDB_IDENTIFIER.match(ident):
        raise _tsdb_invalid(
            "identifier", ident, "Member must satisfy regular expression pattern: [a-zA-Z0-9]+ "
            "and have length between 3 and 64",
        )  # fmt: skip
    for name, allowed in enums.items():
        if name in body and body[name] not in allowed:
            raise _tsdb_invalid(
                name, body[name], f"Member must satisfy enum value set: [{', '.join(allowed)}]"
            )
    storage = body.get("allocatedStorage")
    if storage is not None and (not isinstance(storage, int) or not 20 <= storage <= 15360):
        raise _tsdb_invalid(
            "allocatedStorage", storage, "Member must have value between 20 and 15360"
        )
    port = body.get("port")
    if port is not None and (not isinstance(port, int) or not 1024 <= port <= 65535):
        raise _tsdb_invalid("port", port, "Member must have value between 1024 and 65535")
