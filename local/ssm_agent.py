"""The local cloud's managed hosts and their SSM agent: `AWS-RunShellScript` really runs.

A managed host is a sandbox on this machine: its own directory, users (each a home under
it with a `~/.profile`, reached by the host's `runuser -l`), `PATH` (its `bin/` first: the
host's own commands, such as a `docker` over the real process manager), tags, and a
managed-instance id `mi-…`. A command sent to it runs as SSM runs it: in the command's own
folder, with the agent's bare environment (no HOME, no app variable: what a command needs
of the app it reaches through the app's user and directory, as the runbook does), as a
subprocess with the document's `executionTimeout`; exit code 0 is
`Success`, any other `Failed`, a timeout `TimedOut`. What SSM answers is truncated as SSM
truncates it (24,000 characters in GetCommandInvocation, 2,500 in ListCommandInvocations'
plugin output); the whole output goes to CloudWatch Logs when the command asks for it, as
the agent ships it. Targets are resolved as SSM resolves them (tags, instance ids), in
batches of `MaxConcurrency`, stopping once more than `MaxErrors` invocations failed.

The agent is synchronous: when SendCommand returns, every invocation has run. A host that
is offline (`online=False`) never receives the command: its invocation is `TimedOut` with
`Delivery Timed Out`, as SSM reports it once `TimeoutSeconds` have passed."""

from __future__ import annotations

import hashlib
import os
import re
import shlex
import signal
import subprocess
import uuid
from collections.abc import Callable, Mapping
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from .aws_validation import AwsError

DOCUMENT = "AWS-RunShellScript"
PLUGIN = "aws:runShellScript"
#: GetCommandInvocation's StandardOutputContent / StandardErrorContent.
INVOCATION_CHARS = 24_000
#: ListCommandInvocations(Details=True): each plugin's `Output`.
DETAILS_CHARS = 2_500
#: AWS-RunShellScript's default `executionTimeout` (seconds).
EXECUTION_TIMEOUT = 3600
#: Where SSM writes the output when `CloudWatchOutputConfig` names no group.
DEFAULT_LOG_GROUP = f"/aws/ssm/{DOCUMENT}"
#: The agent's own `PATH` after the host's `bin/`: the machine's real binaries.
SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
AGENT_VERSION = "3.3.0.0"
#: Target keys resolved here besides `tag:<key>`.
TARGET_KEYS = frozenset({"InstanceIds", "tag-key"})

#: CloudWatch Logs' limit on one event's message (bytes; characters here, conservatively).
LOG_EVENT_CHARS = 256 * 1024 - 26

#: (log group, log stream, text): how the agent's output reaches CloudWatch Logs.
LogSink = Callable[[str, str, str], None]


@dataclass
class Host:
    """One managed host: a directory with its own users and tags."""

    name: str
    root: Path
    tags: dict[str, str] = field(default_factory=dict)
    #: Its users: login name -> what that user's `~/.profile` exports (root always).
    users: dict[str, dict[str, str]] = field(default_factory=dict)
    online: bool = True
    #: Log files under `root` the CloudWatch agent ships: relative path -> log group.
    log_files: dict[str, str] = field(default_factory=dict)
    #: Run when the host goes away (before its directory does): what runs there stops.
    closers: list[Callable[[], None]] = field(default_factory=list)
    _shipped: dict[str, int] = field(default_factory=dict)

    def close(self) -> None:
        for closer in reversed(self.closers):
            closer()
        self.closers.clear()

    @property
    def instance_id(self) -> str:
        """`mi-` and 17 hex digits, as hybrid activations name instances; stable per name."""
        return "mi-" + hashlib.sha256(self.name.encode()).hexdigest()[:17]

    @property
    def bin(self) -> Path:
        return self.root / "bin"

    def environment(self, user: str | None = None) -> dict[str, str]:
        """What a command sees. The agent's own (`user` None): a service's environment,
        PATH and LANG only (SSM Run Command sets no HOME and reads no profile), so nothing
        of an app's configuration reaches a command that does not go where the runbook
        goes (`host_shell`). A user's: what `runuser -l` gives (HOME, USER, LOGNAME,
        SHELL, PATH) and that user's profile exports."""
        base = {"PATH": f"{self.bin}:{SYSTEM_PATH}", "LANG": "C.UTF-8"}
        if user is None:
            return base
        login = {"HOME": str(self.home(user)), "USER": user, "LOGNAME": user, "SHELL": "/bin/sh"}
        return {**base, **login, **self.users[user]}

    def home(self, user: str) -> Path:
        return self.root / ("root" if user == "root" else f"home/{user}")

    def add_user(self, user: str, exports: Mapping[str, str] | None = None) -> Path:
        """A user of this host (its home under the host's directory, a `~/.profile` that
        exports `exports`), reachable by the host's `runuser -l`. Returns its home."""
        if not re.fullmatch(USER_PATTERN, user):
            raise ValueError(f"host {self.name}: {user!r} is not a login name")
        home = self.home(user)
        home.mkdir(parents=True, exist_ok=True)
        self.users[user] = dict(exports or {})
        profile = "".join(f"export {k}={shlex.quote(v)}\n" for k, v in self.users[user].items())
        (home / ".profile").write_text(profile)
        self.add_command("runuser", _runuser(self))
        return home

    def add_command(self, name: str, script: str) -> Path:
        """A command of this host only (`bin/<name>`, first on its PATH)."""
        self.bin.mkdir(parents=True, exist_ok=True)
        path = self.bin / name
        path.write_text(script)
        path.chmod(0o755)
        return path


@dataclass
class Invocation:
    command_id: str
    host: Host
    comment: str
    document: str
    requested: datetime
    status: str = "Pending"
    details: str = "Pending"
    code: int = -1
    stdout: str = ""
    stderr: str = ""

    def listed(self, details: bool) -> dict[str, Any]:
        """ListCommandInvocations' item."""
        item: dict[str, Any] = {
            "CommandId": self.command_id,
            "InstanceId": self.host.instance_id,
            "InstanceName": self.host.name,
            "Comment": self.comment,
            "DocumentName": self.document,
            "DocumentVersion": "$DEFAULT",
            "RequestedDateTime": self.requested.timestamp(),
            "Status": self.status,
            "StatusDetails": self.details,
        }
        if details:
            output = (self.stdout + self.stderr)[:DETAILS_CHARS]
            item["CommandPlugins"] = [
                {
                    "Name": PLUGIN,
                    "Status": self.status,
                    "StatusDetails": self.details,
                    "ResponseCode": self.code,
                    "Output": output,
                }
            ]
        return item

    def got(self) -> dict[str, Any]:
        """GetCommandInvocation's answer."""
        return {
            "CommandId": self.command_id,
            "InstanceId": self.host.instance_id,
            "Comment": self.comment,
            "DocumentName": self.document,
            "DocumentVersion": "$DEFAULT",
            "PluginName": PLUGIN,
            "ResponseCode": self.code,
            "Status": self.status,
            "StatusDetails": self.details,
            "StandardOutputContent": self.stdout[:INVOCATION_CHARS],
            "StandardErrorContent": self.stderr[:INVOCATION_CHARS],
        }


@dataclass
class Agent:
    """The SSM agents of every registered host, and the commands they ran."""

    now: Callable[[], datetime]
    logs: LogSink | None = None
    #: A Command document's content by name (the account's, as SSM holds them), or None.
    documents: Callable[[str], dict[str, Any] | None] = lambda name: None
    hosts: dict[str, Host] = field(default_factory=dict)
    invocations: dict[str, list[Invocation]] = field(default_factory=dict)
    #: Told of every script a host ran, after it ran (a world keeps what it cares about).
    watchers: list[Callable[[Host, str, Invocation], None]] = field(default_factory=list)

    def register(self, host: Host) -> Host:
        host.root.mkdir(parents=True, exist_ok=True)
        host.bin.mkdir(exist_ok=True)
        for user in sorted({"root", *host.users}):
            host.add_user(user, host.users.get(user))
        self.hosts[host.instance_id] = host
        return host

    def by_name(self, name: str) -> Host:
        return next(h for h in self.hosts.values() if h.name == name)

    # -- SSM's API ---------------------------------------------------------------------

    def targets(self, body: Mapping[str, Any]) -> list[Host] | None:
        """The hosts SendCommand's `InstanceIds` / `Targets` name, in id order, or None when
        none of its ids or tags is one of this agent's (another stand-in may answer)."""
        found: dict[str, Host] = {}
        for iid in body.get("InstanceIds", []) or []:
            if iid in self.hosts:
                found[iid] = self.hosts[iid]
        for target in body.get("Targets", []) or []:
            key, values = str(target.get("Key", "")), [str(v) for v in target.get("Values", [])]
            if key not in TARGET_KEYS and not key.startswith("tag:"):
                raise AwsError("InvalidTarget", f"This stand-in resolves no target key {key}.")
            found.update({h.instance_id: h for h in self.hosts.values() if matches(h, key, values)})
        return [found[i] for i in sorted(found)] or None

    def send(self, body: Mapping[str, Any], hosts: list[Host]) -> dict[str, Any]:
        """Run the command on `hosts` and return SendCommand's `Command` (its final state:
        the agent is synchronous)."""
        command_id = str(uuid.uuid4())
        params = body.get("Parameters", {})
        document = str(body.get("DocumentName", ""))
        if document == DOCUMENT:
            script = "\n".join(params.get("commands", []))
            timeout = int((params.get("executionTimeout") or [str(EXECUTION_TIMEOUT)])[0])
            workdir = (params.get("workingDirectory") or [""])[0]
        else:
            script, timeout = rendered(self.documents(document) or {}, params)
            workdir = ""
        concurrency = limit(str(body.get("MaxConcurrency", "50")), len(hosts), floor=1)
        max_errors = limit(str(body.get("MaxErrors", "0")), len(hosts), floor=0)
        output = body.get("CloudWatchOutputConfig") or {}
        group = output.get("CloudWatchLogGroupName") or DEFAULT_LOG_GROUP
        ran: list[Invocation] = []
        errors = 0
        for start in range(0, len(hosts), concurrency):
            if errors > max_errors:
                break  # SSM stops sending the command to further targets
            for host in hosts[start : start + concurrency]:
                inv = Invocation(
                    command_id,
                    host,
                    str(body.get("Comment", "")),
                    str(body.get("DocumentName", "")),
                    self.now(),
                )
                self._run(inv, script, timeout, workdir)
                ran.append(inv)
                for watcher in list(self.watchers):
                    watcher(host, script, inv)
                errors += inv.status != "Success"
                if output.get("CloudWatchOutputEnabled") and self.logs is not None:
                    stream = f"{command_id}/{host.instance_id}/{PLUGIN.replace(':', '-')}"
                    for kind, text in (("stdout", inv.stdout), ("stderr", inv.stderr)):
                        if text:
                            self.logs(group, f"{stream}/{kind}", text)
        self.invocations[command_id] = ran
        self.ship_logs()  # the CloudWatch agent ships as the host writes, not on demand
        statuses = {i.status for i in ran}
        status = next((s for s in ("TimedOut", "Failed") if s in statuses), "Success")
        if errors > max_errors and len(ran) < len(hosts):
            status = "Failed"
        return {
            "CommandId": command_id,
            "DocumentName": body.get("DocumentName", ""),
            "Comment": body.get("Comment", ""),
            "Parameters": params,
            "InstanceIds": list(body.get("InstanceIds", []) or []),
            "Targets": list(body.get("Targets", []) or []),
            "RequestedDateTime": self.now().timestamp(),
            "Status": status,
            "StatusDetails": status,
            "MaxConcurrency": str(body.get("MaxConcurrency", "50")),
            "MaxErrors": str(body.get("MaxErrors", "0")),
            "TimeoutSeconds": int(body.get("TimeoutSeconds", 3600)),
            "TargetCount": len(hosts),
            "CompletedCount": len(ran),
            "ErrorCount": sum(i.status in ("Failed", "TimedOut") for i in ran),
            "DeliveryTimedOutCount": sum(i.details == "Delivery Timed Out" for i in ran),
            "CloudWatchOutputConfig": dict(output),
        }

    def listed(self, command_id: str, instance: str | None, details: bool) -> list[dict[str, Any]]:
        return [
            i.listed(details)
            for i in self.invocations.get(command_id, [])
            if instance in (None, i.host.instance_id)
        ]

    def get(self, command_id: str, instance: str) -> dict[str, Any]:
        for inv in self.invocations.get(command_id, []):
            if inv.host.instance_id == instance:
                return inv.got()
        raise AwsError("InvocationDoesNotExist", "", 400)

    def describe(self, filters: list[Mapping[str, Any]]) -> list[dict[str, Any]]:
        """DescribeInstanceInformation: keys `InstanceIds`, `PingStatus`, `ResourceType`,
        `tag:<key>`, `tag-key` (others are `InvalidFilterKey`, as in SSM)."""
        keep = instance_filter(filters)
        return [
            {
                "InstanceId": h.instance_id,
                "PingStatus": "Online" if h.online else "ConnectionLost",
                "LastPingDateTime": self.now().timestamp(),
                "AgentVersion": AGENT_VERSION,
                "IsLatestVersion": True,
                "PlatformType": "Linux",
                "PlatformName": "Debian GNU/Linux",
                "ResourceType": "ManagedInstance",
                "Name": h.name,
                "ComputerName": h.name,
                "IPAddress": "127.0.0.1",
            }
            for h in sorted(self.hosts.values(), key=lambda h: h.instance_id)
            if keep(h)
        ]

    # -- the host's side ---------------------------------------------------------------

    def _run(self, inv: Invocation, script: str, timeout: int, workdir: str) -> None:
        host = inv.host
        if not host.online:
            inv.status, inv.details = "TimedOut", "Delivery Timed Out"
            return
        folder = host.root / "orchestration" / inv.command_id
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / "_script.sh"
        path.write_text(script + "\n")
        cwd = Path(workdir) if workdir else folder  # SSM runs a script in its own folder
        proc = subprocess.Popen(
            ["/bin/sh", str(path)],
            cwd=cwd,
            env=host.environment(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # a timeout kills the whole script, children included
        )
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            out, err = proc.communicate()
            inv.status, inv.details, inv.code = "TimedOut", "Execution Timed Out", -1
        else:
            inv.code = proc.returncode
            inv.status = inv.details = "Success" if proc.returncode == 0 else "Failed"
        inv.stdout = out.decode(errors="replace")
        inv.stderr = err.decode(errors="replace")

    def ship_logs(self) -> None:
        """What the CloudWatch agent does on each host: new lines of each log file it follows
        go to its log group (stream: the instance id)."""
        if self.logs is None:
            return
        for host in self.hosts.values():
            for rel, group in host.log_files.items():
                path = host.root / rel
                if not path.exists():
                    continue
                seen = host._shipped.get(rel, 0)
                data = path.read_bytes()
                if len(data) < seen:
                    seen = 0  # rotated or truncated: start over
                new = data[seen:]
                complete = new[: new.rfind(b"\n") + 1]
                if complete:
                    self.logs(group, host.instance_id, complete.decode(errors="replace"))
                    host._shipped[rel] = seen + len(complete)


#: useradd's rule for a login name (`host_shell.USER_PATTERN`).
USER_PATTERN = r"[a-z_][a-z0-9_-]{0,31}"


def _runuser(host: Host) -> str:
    """The host's `runuser -l USER -c COMMAND` (util-linux), on a sandbox that cannot switch
    the process's user: USER's login shell as far as a command can tell (a clean
    environment with its HOME, USER, LOGNAME, SHELL and PATH, its `~/.profile` read, its
    home the working directory), or util-linux's refusal for a user the host lacks."""
    users = "\n".join(
        f"  {u}) home={shlex.quote(str(host.home(u)))} ;;" for u in sorted(host.users)
    )
    path = f"{host.bin}:{SYSTEM_PATH}"
    return f"""#!/bin/sh
if [ "$#" -ne 4 ] || [ "$1" != -l ] || [ "$3" != -c ]; then
  echo "runuser: this host runs: runuser -l USER -c COMMAND" >&2; exit 1
fi
case "$2" in
{users}
  *) echo "runuser: user $2 does not exist or the user entry does not contain all the \\
required fields" >&2; exit 1 ;;
esac
cd "$home" || exit 1
exec env -i PATH={shlex.quote(path)} LANG=C.UTF-8 HOME="$home" USER="$2" LOGNAME="$2" \\
  SHELL=/bin/sh /bin/sh -c 'if [ -r "$HOME/.profile" ]; then . "$HOME/.profile"; fi; eval "$1"' \\
  runuser "$4"
"""


def rendered(content: dict[str, Any], params: Mapping[str, Any]) -> tuple[str, int]:
    """A schema-2.2 Command document's `aws:runShellScript` steps as one script, each
    `{{ name }}` replaced by its parameter's value (validated before: `check_parameters`),
    and the steps' timeout."""
    script: list[str] = []
    timeout = 0
    for step in content.get("mainSteps", []):
        if step.get("action") != PLUGIN:
            continue
        inputs = step.get("inputs", {})
        script += [str(line) for line in inputs.get("runCommand", [])]
        timeout += int(inputs.get("timeoutSeconds", EXECUTION_TIMEOUT))
    text = "\n".join(script)
    for name, spec in content.get("parameters", {}).items():
        value = (params.get(name) or [spec.get("default", "")])[0]
        text = text.replace("{{ " + name + " }}", str(value)).replace(
            "{{" + name + "}}", str(value)
        )
    return text, timeout or EXECUTION_TIMEOUT


def limit(value: str, total: int, *, floor: int) -> int:
    """`MaxConcurrency` / `MaxErrors`: a count, or a percentage of the targets."""
    if value.endswith("%"):
        return max(floor, int(total * int(value[:-1]) / 100))
    return max(floor, int(value))


def matches(host: Host, key: str, values: list[str]) -> bool:
    """One target or filter `key`/`values` (the keys SSM takes in both), or SSM's
    `InvalidFilterKey`."""
    if key == "InstanceIds":
        return host.instance_id in values
    if key == "PingStatus":
        return ("Online" if host.online else "ConnectionLost") in values
    if key == "ResourceType":
        return "ManagedInstance" in values
    if key.startswith("tag:"):
        return host.tags.get(key[4:]) in values
    if key == "tag-key":
        return any(k in host.tags for k in values)
    raise AwsError("InvalidFilterKey", f"The filter key {key} is not valid.", 400)


def instance_filter(filters: list[Mapping[str, Any]]) -> Callable[[Host], bool]:
    wanted = [(str(f.get("Key", "")), [str(v) for v in f.get("Values", [])]) for f in filters]
    probe = Host("probe", Path("/nonexistent"))
    for key, values in wanted:
        matches(probe, key, values)  # an unknown key is refused before anything is listed
    return lambda h: all(matches(h, k, v) for k, v in wanted)


def put_logs(logs: Any, at: datetime, group: str, stream: str, text: str) -> None:
    """Output or log lines into CloudWatch Logs, one event per line, the group and stream
    created on first use (as the SSM and CloudWatch agents do)."""
    with suppress(logs.exceptions.ResourceAlreadyExistsException):
        logs.create_log_group(logGroupName=group)
    with suppress(logs.exceptions.ResourceAlreadyExistsException):
        logs.create_log_stream(logGroupName=group, logStreamName=stream)
    ms = int(at.timestamp() * 1000)
    logs.put_log_events(
        logGroupName=group,
        logStreamName=stream,
        logEvents=[
            {"timestamp": ms, "message": line[:LOG_EVENT_CHARS]}
            for line in text.splitlines() or [""]
        ],
    )
