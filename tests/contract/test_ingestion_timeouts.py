"""ingestion_failover's time bounds hold together: each Lambda's timeout (function.json)
exceeds the worst case of the SSM commands it waits for (SendCommand's delivery timeout plus
each document's execution timeout, read from the documents the stacks deploy), the
workflow's Task timeouts are not shorter than their functions', and SetMode's own waits
(the host's lock, `pm2 restart`, the app answering) fit inside its execution timeout. A
Lambda cut off while its command still runs would leave a switch half done and unrecorded."""

from __future__ import annotations

import json
import re
from typing import Any

from selfheal_cdk import spec as spec_mod
from selfheal_shared.core import run_command
from selfheal_shared.ingestion import ingestion_documents as docs
from selfheal_shared.ingestion import ingestion_instances as inst

ASL = spec_mod.ROOT / "state_machines" / "ingestion_failover.asl.json"


def _execution(content: dict[str, Any]) -> int:
    return sum(int(step["inputs"]["timeoutSeconds"]) for step in content["mainSteps"])


def _script(content: dict[str, Any]) -> str:
    return "\n".join(line for step in content["mainSteps"] for line in step["inputs"]["runCommand"])


def _worst(document: str) -> int:
    """SendCommand's delivery timeout the failover sends `document` with, then the
    document's execution timeout: how long SSM may take to answer."""
    return docs.DELIVERY_SECONDS + _execution(docs.documents()[document])


def _function(name: str) -> int:
    return spec_mod.load().functions[name].timeout_seconds


def _task(state: str) -> int:
    return int(json.loads(ASL.read_text())["States"][state]["TimeoutSeconds"])


def _waits(document: str, monkeypatch: Any) -> dict[str, Any]:
    """What the failover passes run_command when it sends `document` (the real call, its
    arguments caught)."""
    seen: dict[str, Any] = {}

    def catch(*args: Any, **kw: Any) -> dict[str, Any]:
        seen.update(kw)
        return {"status": "Success", "stdout": "now|2024-01-01T00:00:00.000000Z", "output": ""}

    monkeypatch.setattr(run_command, "read", catch)
    monkeypatch.setattr(run_command, "run_document", catch)
    reg = inst.Registry.model_validate(
        {
            "database": {"host": "aupus-db", "name": "aupus"},
            "instances": [
                {"name": "primary", "host": "aupus-vps", "role": "aupus_vps",
                 "instanceId": "production-server", "priority": 0, "runAs": "aupus",
                     "directory": "aupus-service-api"},
            ],
        }
    )  # fmt: skip
    instance = reg.instances[0]
    {
        docs.OBSERVE: lambda: inst.observe(instance),
        docs.WRITERS: lambda: inst.writers(reg.database),
        docs.SET_MODE: lambda: inst.set_mode(instance, inst.PRODUCTION, "k"),
        docs.FENCE: lambda: inst.fence(reg.database, instance, "fence", "k"),
    }[document]()
    return seen


def test_each_command_is_waited_for_as_long_as_ssm_may_take(monkeypatch: Any) -> None:
    for document in (docs.OBSERVE, docs.WRITERS, docs.SET_MODE, docs.FENCE):
        waits = _waits(document, monkeypatch)
        assert waits.get("delivery_seconds") == docs.DELIVERY_SECONDS, document
        assert waits.get("wait_seconds", run_command.POLLS) >= _worst(document), (
            f"{document}: the Lambda stops waiting before SSM's answer can come"
        )


def test_set_mode_waits_fit_inside_its_execution_timeout() -> None:
    content = docs.documents()[docs.SET_MODE]
    script = _script(content)
    [lock] = re.findall(r"flock -w (\d+)", script)
    [ready] = re.findall(r"end=\$\(\( \$\(date \+%s\) \+ (\d+) \)\)", script)
    assert "for i in $(seq" not in script, "the readiness wait is bounded by time, not a count"
    assert int(lock) + docs.RESTART_SECONDS + int(ready) < _execution(content)
    [shared] = re.findall(r"flock -s -w (\d+)", _script(docs.documents()[docs.OBSERVE]))
    assert int(shared) >= docs.RESTART_SECONDS + int(ready), "a reading waits out a switch"
    assert int(shared) < _execution(docs.documents()[docs.OBSERVE])


def test_the_failover_functions_outlast_the_commands_they_wait_for() -> None:
    n = inst.MAX_INSTANCES
    reading = n * _worst(docs.OBSERVE) + _worst(docs.WRITERS)
    step = max(_worst(docs.SET_MODE), _worst(docs.FENCE))
    worst = {
        # every instance on its host, the database
        "ingestion_failover_survey": reading,
        # read under the lease; each other instance demoted or fenced, the kept one
        # promoted and unfenced (n + 1 steps at most); read again at the end (or, after a
        # failed step, to tell whether anyone is left in production)
        "ingestion_failover_apply": reading + (n + 1) * step + reading,
        # one reading of the rows and the hosts
        "ingestion_failover_verify": reading,
    }
    for name, seconds in worst.items():
        assert _function(name) > seconds, f"{name}: {_function(name)} s <= worst case {seconds} s"
    for state, name in (
        ("Survey", "ingestion_failover_survey"),
        ("Apply", "ingestion_failover_apply"),
        ("Verify", "ingestion_failover_verify"),
    ):
        assert _task(state) >= _function(name), state


def test_only_apply_has_a_task_timeout_the_local_clock_keeps_virtual() -> None:
    """The local runtime keeps Task timeouts under 300 s in real time (a Lambda's work) and
    longer ones on the virtual clock (gates), where another execution's Wait can reach
    them while the Lambda runs: survey and verify stay under it; apply (840 s worst case)
    cannot, and its 900 s exceeds every Wait the workflow has (Settle 300 s + 11 x 10 s)."""
    from selfheal_shared.ingestion import ingestion_failover as failover

    from local.clock import VIRTUAL_TIMEOUT_FROM_SECONDS

    assert _task("Survey") < VIRTUAL_TIMEOUT_FROM_SECONDS
    assert _task("Verify") < VIRTUAL_TIMEOUT_FROM_SECONDS
    arrival = json.loads(ASL.read_text())["States"]["ArrivalWait"]["Seconds"]
    waits = max(failover.SETTLE_SECONDS.values()) + (failover.VERIFY_ROUNDS - 1) * arrival
    assert _task("Apply") > waits


def test_the_arrival_wait_is_the_workflows_bounded_loop() -> None:
    """Verify makes one reading per call; the waiting between readings is the workflow's
    (ArrivalWait), bounded by VERIFY_ROUNDS, about the runbook's "1-2 minutos"."""
    from selfheal_shared.ingestion import ingestion_failover as failover

    states = json.loads(ASL.read_text())["States"]
    assert states["ArrivalWait"]["Type"] == "Wait"
    assert states["ArrivalWait"]["Seconds"] == failover.ARRIVAL_WAIT_SECONDS
    assert states["ArrivalWait"]["Next"] == "Verify"
    assert (failover.VERIFY_ROUNDS - 1) * failover.ARRIVAL_WAIT_SECONDS <= 120
    verify = (spec_mod.ROOT / "functions/ingestion/ingestion_failover_verify/app.py").read_text()
    assert "time.sleep" not in verify and "monotonic" not in verify


def test_the_execution_outlasts_the_longest_handback_wait_and_the_run_after_it() -> None:
    """A hand-back refused within the cooldown waits it out (WaitHandbackCooldown, up to the
    longest cooldown a group may set) and then runs once more: every Task on that path, each
    to its timeout, and every Wait at its longest, still end before the execution's
    timeout (nested, as each Task outlasts its function above)."""
    from selfheal_shared.ingestion import ingestion_failover as failover

    states = json.loads(ASL.read_text())["States"]
    definition = json.loads(ASL.read_text())
    assert states["WaitHandbackCooldown"]["Type"] == "Wait"
    assert states["WaitHandbackCooldown"]["TimestampPath"] == "$.plan.retryAt"
    assert states["HandbackAgain"]["Next"] == "Survey"
    before = _task("Claim") + _task("Survey") + _task("PageHandbackDeferred")
    wait = inst.MAX_HANDBACK_COOLDOWN_MINUTES * 60
    # surveyed again (and once more if the lease moved), guards, apply, the settle and the
    # arrival rounds, the last page
    arrival = states["ArrivalWait"]["Seconds"]
    after = (
        2 * _task("Survey")
        + _task("Guards")
        + _task("Apply")
        + max(failover.SETTLE_SECONDS.values())
        + failover.VERIFY_ROUNDS * (_task("Verify") + arrival)
        + _task("EscalateNotFixed")
    )
    assert definition["TimeoutSeconds"] > before + wait + after


def test_the_probe_reads_the_instances_side_by_side_and_outlasts_one_reading(
    monkeypatch: Any,
) -> None:
    """`service_probe` reads a group's instances through OBSERVE (a Lambda reaches no VPS's
    localhost): every command is sent before any is waited for, each waited for as long as
    SSM may take, and the function outlasts one such reading (the hosts run them side by
    side) plus its host checks of the described services."""
    from selfheal_shared.services import service_ops

    events: list[tuple[str, Any]] = []

    def send(*args: Any, **kw: Any) -> str:
        assert args[3] == {"user": ["aupus"], "directory": ["aupus-service-api"]}
        events.append(("send", kw.get("delivery_seconds")))
        return f"cmd-{len(events)}"

    def result(command_id: str, wait_seconds: float = 0) -> dict[str, Any]:
        events.append(("wait", wait_seconds))
        return {"status": "Success", "stdout": 'pid=42\nmqtt={"status": "connected"}\n'}

    monkeypatch.setattr(run_command, "send_read", send)
    monkeypatch.setattr(run_command, "read_result", result)
    reg = inst.Registry.model_validate(
        {
            "database": {"host": "aupus-db", "name": "aupus"},
            "instances": [
                {"name": "primary", "host": "aupus-vps", "role": "aupus_vps",
                 "instanceId": "production-server", "priority": 0, "runAs": "aupus",
                 "directory": "aupus-service-api"},
                {"name": "backup", "host": "aupus-backup", "role": "aupus_backup",
                 "instanceId": "aupus-backup", "priority": 1, "runAs": "aupus",
                 "directory": "aupus-service-api"},
            ],
        }
    )  # fmt: skip
    observed = inst.observe_all(reg.instances)

    assert [o.healthy for o in observed] == [True, True]
    assert events == [
        ("send", docs.DELIVERY_SECONDS),
        ("send", docs.DELIVERY_SECONDS),
        ("wait", _worst(docs.OBSERVE)),
        ("wait", _worst(docs.OBSERVE)),
    ]
    check = service_ops.PHASE_SECONDS["check"]  # a described service's host check
    assert _function("service_probe") > _worst(docs.OBSERVE) + check
