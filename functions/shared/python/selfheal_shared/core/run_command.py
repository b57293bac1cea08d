"""SSM Run Command (`AWS-RunShellScript`) on the hosts a tag names, waited for: how selfheal
runs the runbooks' own host commands (`pm2 restart`, `docker compose restart`, `systemctl
restart`) on managed or hybrid-activated hosts, for every automation that needs one."""

from __future__ import annotations

import time
from typing import Any

from . import redact
from .clients import client

TERMINAL = {"Success", "Failed", "Cancelled", "TimedOut", "Cancelling", "Undeliverable"}
#: How long (seconds) `wait` polls by default: a command that runs longer gets a `wait_seconds`.
POLLS = 30
#: SendCommand's `TimeoutSeconds` by default (delivery: the command is dropped when no agent
#: took it by then).
DELIVERY_SECONDS = 120
DOCUMENT = "AWS-RunShellScript"
#: SendCommand's limit on `Comment`.
COMMENT_CHARS = 100


def run(tag_key: str, tag_value: str, commands: list[str], key: str, why: str) -> dict[str, Any]:
    """Send `commands` to the hosts tagged `tag_key=tag_value`, one at a time, stopping at
    the first error; wait for every invocation. The effect's `key` opens the comment, where
    `sent` finds the command again. SendCommand has no client token: an SDK retry after a
    lost response would run the command twice, so the call is made once (`Run.act` asks
    `sent` before any retry). Returns what SSM said: `status` (`Success`, or the first
    failed invocation's status, or `TimedOut`), `instances`, `output`."""
    return run_document(tag_key, tag_value, DOCUMENT, {"commands": commands}, key, why)


def run_document(
    tag_key: str,
    tag_value: str,
    document: str,
    parameters: dict[str, list[str]],
    key: str,
    why: str,
    *,
    delivery_seconds: int = DELIVERY_SECONDS,
    wait_seconds: float = POLLS,
) -> dict[str, Any]:
    """`run` with a Command `document` whose parameters SSM validates (`allowedValues`,
    `allowedPattern`) instead of composed shell: the same once-only sending under `key`,
    found again by `sent(key, document)`. Returns `wait`'s outcome, waited for up to
    `wait_seconds` (a caller whose document runs longer than `POLLS` says how long)."""
    command_id = client("ssm", sdk_retries=False).send_command(
        Targets=[{"Key": f"tag:{tag_key}", "Values": [tag_value]}],
        DocumentName=document,
        Parameters=parameters,
        Comment=f"{key} {why}"[:COMMENT_CHARS],
        MaxConcurrency="1",
        MaxErrors="0",
        TimeoutSeconds=delivery_seconds,
    )["Command"]["CommandId"]
    return wait(command_id, wait_seconds)


def sent(
    key: str, document: str = DOCUMENT, *, wait_seconds: float = POLLS
) -> dict[str, Any] | None:
    """The command sent under `key` (its outcome, waited for as `run` does), or None when
    SSM holds no such command: the question asked before a SendCommand is repeated."""
    pages = client("ssm").get_paginator("list_commands")
    for page in pages.paginate(Filters=[{"key": "DocumentName", "value": document}]):
        for command in page.get("Commands", []):
            if str(command.get("Comment", "")).split(" ", 1)[0] == key:
                return wait(command["CommandId"], wait_seconds)
    return None


def wait(command_id: str, seconds: float = POLLS) -> dict[str, Any]:
    """The command's outcome once every invocation is terminal, polled every second for up
    to `seconds` (then `TimedOut`, as far as this caller knows)."""
    ssm = client("ssm")
    deadline = time.monotonic() + seconds
    while True:
        invocations = ssm.list_command_invocations(CommandId=command_id, Details=True)[
            "CommandInvocations"
        ]
        if not invocations and _targets_nothing(command_id):
            return {
                "via": "ssm:SendCommand",
                "commandId": command_id,
                "status": "Undeliverable",
                "instances": [],
                "output": "no managed instance matches the targets (TargetCount 0)",
            }
        if invocations and all(i["Status"] in TERMINAL for i in invocations):
            failed = [i for i in invocations if i["Status"] != "Success"]
            outputs = [
                p.get("Output", "") for i in invocations for p in i.get("CommandPlugins", [])
            ]
            return {
                "via": "ssm:SendCommand",
                "commandId": command_id,
                "status": failed[0]["Status"] if failed else "Success",
                "instances": [i["InstanceId"] for i in invocations],
                # What the host printed, redacted: it goes into the audit and the page.
                "output": redact.text(" | ".join(o.strip() for o in outputs if o.strip()))[:500],
            }
        if time.monotonic() + 1 > deadline:
            break
        time.sleep(1)  # SSM reports in seconds; bounded by `seconds` and the Lambda timeout
    return {"via": "ssm:SendCommand", "commandId": command_id, "status": "TimedOut", "output": ""}


def read(
    tag_key: str,
    tag_value: str,
    document: str,
    parameters: dict[str, list[str]],
    why: str,
    *,
    delivery_seconds: int = 60,
    wait_seconds: float = POLLS,
) -> dict[str, Any]:
    """Run a read-only Command `document` (a check) on the tagged host and return what it
    printed, whole, for the caller to parse: `status`, `code` (the exit code), `stdout`,
    `stderr`, `instance`. A check changes nothing: a lost response may be asked again.
    `delivery_seconds`: how long SSM may try to deliver it; `wait_seconds`: how long the
    check may take (one that waits on the host takes more)."""
    command_id = send_read(
        tag_key, tag_value, document, parameters, why, delivery_seconds=delivery_seconds
    )
    return read_result(command_id, wait_seconds)


def send_read(
    tag_key: str,
    tag_value: str,
    document: str,
    parameters: dict[str, list[str]],
    why: str,
    *,
    delivery_seconds: int = 60,
) -> str:
    """`read`'s first half: the check sent, not waited for (its command id). A caller that
    reads several hosts sends every check first, so the hosts run them side by side."""
    return str(
        client("ssm").send_command(
            Targets=[{"Key": f"tag:{tag_key}", "Values": [tag_value]}],
            DocumentName=document,
            Parameters=parameters,
            Comment=f"check {why}"[:COMMENT_CHARS],
            TimeoutSeconds=delivery_seconds,
        )["Command"]["CommandId"]
    )


def read_result(command_id: str, wait_seconds: float = POLLS) -> dict[str, Any]:
    """`read`'s second half: the check `send_read` sent, waited for, as `read` answers."""
    outcome = wait(command_id, wait_seconds)
    instances = outcome.get("instances") or []
    if not instances:
        return {"status": outcome["status"], "code": -1, "stdout": "", "stderr": "", "instance": ""}
    got = client("ssm").get_command_invocation(CommandId=command_id, InstanceId=instances[0])
    return {
        "status": got["Status"],
        "details": got.get("StatusDetails", ""),
        "code": int(got.get("ResponseCode", -1)),
        "stdout": got.get("StandardOutputContent", ""),
        "stderr": got.get("StandardErrorContent", ""),
        "instance": instances[0],
    }


def _targets_nothing(command_id: str) -> bool:
    """SSM resolved the command's targets to no instance: no invocation will ever come."""
    commands = client("ssm").list_commands(CommandId=command_id).get("Commands", [])
    return bool(commands) and commands[0].get("TargetCount") == 0
