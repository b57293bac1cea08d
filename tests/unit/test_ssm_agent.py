"""The local SSM agent runs `AWS-RunShellScript` for real on sandboxed managed hosts, and
SSM's API answers as SSM does: statuses from exit codes and timeouts, truncation, output in
CloudWatch Logs, MaxConcurrency/MaxErrors, DescribeInstanceInformation, and its errors."""

from __future__ import annotations

import os
import select
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws
from selfheal_shared.core import clients, host_shell, run_command

from local import ssm_agent
from local.moto_extensions import Extensions

#: The agent's time, fixed for every test of the module. It must lie near the wall clock:
#: CloudWatch Logs (moto as AWS) refuses events older than 14 days against the real time.
AT = datetime.now(UTC).replace(microsecond=0)  # real-time: PutLogEvents' age check reads it
TAG = "selfheal:host"


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[tuple[Any, ssm_agent.Agent]]:
    for key, value in {
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
    }.items():
        monkeypatch.setenv(key, value)
    with mock_aws(), Extensions(region="us-east-1").installed() as ext:
        logs = boto3.client("logs", region_name="us-east-1")
        agent = ssm_agent.Agent(
            now=lambda: AT, logs=lambda g, s, t: ssm_agent.put_logs(logs, AT, g, s, t)
        )
        ext.hosts = agent
        for name in ("web-1", "web-2", "web-3"):
            agent.register(ssm_agent.Host(name, tmp_path / name, {TAG: "web", "Name": name}))
        agent.register(
            ssm_agent.Host("db-1", tmp_path / "db-1", {TAG: "db"}, {"dbadmin": {"ROLE": "db"}})
        )
        clients.reset()
        yield boto3.client("ssm", region_name="us-east-1"), agent
    clients.reset()


def send(ssm: Any, commands: list[str], **kw: Any) -> dict[str, Any]:
    kw.setdefault("Targets", [{"Key": f"tag:{TAG}", "Values": ["db"]}])
    command: dict[str, Any] = ssm.send_command(
        DocumentName="AWS-RunShellScript",
        Parameters={"commands": commands, **kw.pop("p", {})},
        **kw,
    )["Command"]
    return command


def only(ssm: Any, command: dict[str, Any]) -> dict[str, Any]:
    [inv] = ssm.list_command_invocations(CommandId=command["CommandId"], Details=True)[
        "CommandInvocations"
    ]
    return dict(inv)


def test_a_command_runs_as_ssm_runs_it_in_its_own_folder_with_no_app_environment(
    aws: Any,
) -> None:
    """SSM runs a script in the command's own folder with the agent's environment: no HOME,
    no profile, nothing of an app's configuration."""
    ssm, agent = aws
    host = agent.by_name("db-1")
    command = send(ssm, ['echo "role=${ROLE:-} home=${HOME:-}"', "touch ran-here", "echo done >&2"])

    inv = only(ssm, command)
    assert inv["Status"] == "Success" and inv["InstanceId"] == host.instance_id
    assert inv["CommandPlugins"][0]["ResponseCode"] == 0
    folder = host.root / "orchestration" / command["CommandId"]
    assert (folder / "ran-here").exists(), "the command ran in its own folder"
    got = ssm.get_command_invocation(CommandId=command["CommandId"], InstanceId=host.instance_id)
    assert got["StandardOutputContent"] == "role= home=\n"
    assert got["StandardErrorContent"] == "done\n"


def test_runuser_gives_the_users_login_shell_and_refuses_a_user_the_host_lacks(
    aws: Any,
) -> None:
    """What the runbook types after `ssh user@host`: the user's home, its profile read."""
    ssm, agent = aws
    host = agent.by_name("db-1")
    ran = only(ssm, send(ssm, host_shell.as_user("dbadmin", "", ['echo "$ROLE $USER $PWD"'])))
    assert ran["Status"] == "Success"
    assert ran["CommandPlugins"][0]["Output"] == f"db dbadmin {host.home('dbadmin')}\n"
    nobody = only(ssm, send(ssm, host_shell.as_user("aupus", "", ["echo reached"])))
    assert nobody["Status"] == "Failed" and "reached" not in nobody["CommandPlugins"][0]["Output"]
    assert "user aupus does not exist" in nobody["CommandPlugins"][0]["Output"]
    missing = only(ssm, send(ssm, host_shell.as_user("dbadmin", "app", ["echo reached"])))
    assert missing["CommandPlugins"][0]["ResponseCode"] == 2
    assert missing["CommandPlugins"][0]["Output"] == "no directory ~/app\n"


def test_the_hosts_own_commands_come_first_on_its_path(aws: Any) -> None:
    ssm, agent = aws
    agent.by_name("db-1").add_command("pg_isready", "#!/bin/sh\necho 'no response'\nexit 2\n")
    inv = only(ssm, send(ssm, ["pg_isready -h 127.0.0.1"]))
    assert inv["Status"] == "Failed" and inv["StatusDetails"] == "Failed"
    assert inv["CommandPlugins"][0]["ResponseCode"] == 2
    assert inv["CommandPlugins"][0]["Output"] == "no response\n"


def test_nothing_of_the_agents_own_environment_leaks_into_a_command(
    aws: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    ssm, agent = aws
    monkeypatch.setenv("SELFHEAL_SECRET_OF_THE_RUNNER", "x")
    command = send(ssm, ["env"])
    out = ssm.get_command_invocation(
        CommandId=command["CommandId"], InstanceId=agent.by_name("db-1").instance_id
    )["StandardOutputContent"]
    assert "SELFHEAL_SECRET_OF_THE_RUNNER" not in out and "AWS_ACCESS_KEY_ID" not in out


def test_an_execution_timeout_kills_the_script_and_says_timed_out(aws: Any) -> None:
    ssm, agent = aws
    host = agent.by_name("db-1")
    command = send(
        ssm, ["sleep 30 &", "echo $! > child.pid", "wait"], p={"executionTimeout": ["1"]}
    )
    inv = only(ssm, command)
    assert (inv["Status"], inv["StatusDetails"]) == ("TimedOut", "Execution Timed Out")
    assert command["Status"] == "TimedOut" and command["ErrorCount"] == 1
    pid = int((host.root / "orchestration" / command["CommandId"] / "child.pid").read_text())
    assert _gone(pid), "the script's child died with it (its process group was killed)"


def _gone(pid: int, within: float = 10.0) -> bool:
    """The process has exited, waited for on the kernel's own signal: a pidfd becomes
    readable when the process ends (bounded; a SIGKILL delivered may take a moment)."""
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return True  # already gone
    try:
        return bool(select.select([fd], [], [], within)[0])
    finally:
        os.close(fd)


def test_output_is_truncated_as_ssm_truncates_it_and_kept_whole_in_cloudwatch(aws: Any) -> None:
    ssm, agent = aws
    host = agent.by_name("db-1")
    command = send(
        ssm,
        ["i=0; while [ $i -lt 3000 ]; do echo line-$i-xxxxxxxxxx; i=$((i+1)); done"],
        CloudWatchOutputConfig={
            "CloudWatchOutputEnabled": True,
            "CloudWatchLogGroupName": "/ssm/out",
        },
    )
    listed = only(ssm, command)["CommandPlugins"][0]["Output"]
    got = ssm.get_command_invocation(CommandId=command["CommandId"], InstanceId=host.instance_id)
    assert len(listed) == ssm_agent.DETAILS_CHARS
    assert len(got["StandardOutputContent"]) == ssm_agent.INVOCATION_CHARS
    stream = f"{command['CommandId']}/{host.instance_id}/aws-runShellScript/stdout"
    events = boto3.client("logs", region_name="us-east-1").get_log_events(
        logGroupName="/ssm/out", logStreamName=stream, limit=10_000
    )["events"]
    assert len(events) == 3000 and events[-1]["message"] == "line-2999-xxxxxxxxxx"


def test_max_errors_stops_sending_to_further_hosts(aws: Any) -> None:
    ssm, _ = aws
    command = send(
        ssm, ["exit 1"], Targets=[{"Key": f"tag:{TAG}", "Values": ["web"]}],
        MaxConcurrency="1", MaxErrors="0",
    )  # fmt: skip
    invocations = ssm.list_command_invocations(CommandId=command["CommandId"])["CommandInvocations"]
    assert [i["Status"] for i in invocations] == ["Failed"], "stopped after the first error"
    assert (command["Status"], command["TargetCount"], command["CompletedCount"]) == (
        "Failed",
        3,
        1,
    )


def test_max_concurrency_runs_a_batch_before_the_error_count_is_looked_at(aws: Any) -> None:
    ssm, _ = aws
    command = send(
        ssm, ["exit 1"], Targets=[{"Key": f"tag:{TAG}", "Values": ["web"]}],
        MaxConcurrency="2", MaxErrors="0",
    )  # fmt: skip
    assert command["CompletedCount"] == 2 and command["ErrorCount"] == 2


def test_an_offline_host_never_gets_the_command(aws: Any) -> None:
    ssm, agent = aws
    host = agent.by_name("db-1")
    host.online = False
    inv = only(ssm, send(ssm, ["touch ran-here"]))
    assert (inv["Status"], inv["StatusDetails"]) == ("TimedOut", "Delivery Timed Out")
    assert not (host.root / "ran-here").exists()
    info = ssm.describe_instance_information(
        Filters=[{"Key": "PingStatus", "Values": ["ConnectionLost"]}]
    )["InstanceInformationList"]
    assert [i["InstanceId"] for i in info] == [host.instance_id]


def test_describe_instance_information_lists_the_hosts_by_tag(aws: Any) -> None:
    ssm, _ = aws
    info = ssm.describe_instance_information(Filters=[{"Key": f"tag:{TAG}", "Values": ["web"]}])
    names = sorted(i["Name"] for i in info["InstanceInformationList"])
    assert names == ["web-1", "web-2", "web-3"]
    assert all(
        i["InstanceId"].startswith("mi-") and len(i["InstanceId"]) == 20
        for i in info["InstanceInformationList"]
    )
    with pytest.raises(ClientError) as err:
        ssm.describe_instance_information(Filters=[{"Key": "Colour", "Values": ["x"]}])
    assert err.value.response["Error"]["Code"] == "InvalidFilterKey"


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"DocumentName": "AWS-RunPowerShellScript"}, "InvalidDocument"),
        ({"Parameters": {"commands": ["true"], "colour": ["x"]}}, "InvalidParameters"),
        ({"Parameters": {}}, "InvalidParameters"),
        ({"Parameters": {"commands": ["true"], "executionTimeout": ["soon"]}}, "InvalidParameters"),
        ({"Comment": "x" * 101}, "ValidationException"),
        ({"MaxErrors": "-1"}, "ValidationException"),
        ({"MaxConcurrency": "0"}, "ValidationException"),
        ({"TimeoutSeconds": 2_592_001}, "ValidationException"),
        ({"Targets": [], "InstanceIds": []}, "ValidationException"),
        ({"Targets": [], "InstanceIds": ["i-not-an-id"]}, "InvalidInstanceId"),
    ],
)
def test_send_command_refuses_what_ssm_refuses(aws: Any, change: dict[str, Any], code: str) -> None:
    ssm, agent = aws
    body: dict[str, Any] = {
        "DocumentName": "AWS-RunShellScript",
        "Parameters": {"commands": ["touch ran-here"]},
        "Targets": [{"Key": f"tag:{TAG}", "Values": ["db"]}],
        **change,
    }
    with pytest.raises(ClientError) as err:
        ssm.send_command(**{k: v for k, v in body.items() if v != []})
    assert err.value.response["Error"]["Code"] == code
    assert not (agent.by_name("db-1").root / "ran-here").exists()


def test_run_command_waits_for_the_real_outcome(aws: Any) -> None:
    """selfheal's own helper (`core/run_command.run`) on a real host: the output and the
    failed status are what the script did."""
    _, agent = aws
    ok = run_command.run(TAG, "db", ["echo restarted"], "k1", "test")
    assert ok["status"] == "Success" and ok["output"] == "restarted"
    assert ok["instances"] == [agent.by_name("db-1").instance_id]
    bad = run_command.run(TAG, "db", ["echo boom >&2; exit 3"], "k2", "test")
    assert bad["status"] == "Failed" and bad["output"] == "boom"
    assert run_command.sent("k2") == bad, "found again by the key in its comment"


def test_the_cloudwatch_agent_ships_new_complete_lines_of_a_hosts_log_files(aws: Any) -> None:
    ssm, agent = aws
    host = agent.by_name("db-1")
    host.log_files["home/dbadmin/log/postgres.log"] = "/selfheal/services/postgres"
    as_admin = lambda line: host_shell.as_user("dbadmin", "", [line])  # noqa: E731
    send(ssm, as_admin("mkdir -p log; printf 'one\\ntwo\\npart' >> log/postgres.log"))
    agent.ship_logs()
    send(ssm, as_admin("printf 'ial\\nthree\\n' >> log/postgres.log"))
    agent.ship_logs()
    agent.ship_logs()
    events = boto3.client("logs", region_name="us-east-1").get_log_events(
        logGroupName="/selfheal/services/postgres", logStreamName=host.instance_id
    )["events"]
    assert [e["message"] for e in events] == ["one", "two", "partial", "three"]
