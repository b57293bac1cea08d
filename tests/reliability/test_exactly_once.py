"""Every action happens once and is always on the record (issue 19), proved by a fault
harness that finds the acting calls by itself.

A clean run of each sample, in its demo scene, records every mutating AWS call made inside
`Run.act`'s `do` (the acting calls: found through botocore's event hooks, not a list kept
here). Then each acting call is faulted in turn, in five modes: throttled, a 503, a read
timeout that never lands, a call that lands and whose response is lost, and the call landing
with the write of its audit record failing. For every run: no effect twice, no landed
effect without its record, no record of an effect that did not land, the same ending as the
clean run (or a failure that paged people), and every failed execution paged.
"""

from __future__ import annotations

import functools
import json
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError, ConnectionClosedError, ReadTimeoutError
from moto.core.models import botocore_stubber
from selfheal_shared.core import clients, effects

from local import worlds
from local.runtime import Pipeline
from local.worlds.services import sim
from tests.helpers import SAMPLES, load_event

#: Samples whose workflows act through AWS APIs, each in its demo scene.
SCENARIOS = [
    "rollback_on_5xx.lambda_errors_alarm",
    "mapper_degraded.timeouts_alarm",
    "service_recovery.api_health_alarm",
    "freeze_ingestion.validation_failures_alarm",
    "influx_write_failures.write_latency_alarm",
]
MODES = ["throttled", "unavailable", "timeout", "lost_response", "audit_write"]
#: Calls whose repeat makes a second effect (AWS keeps no client token for them): SSM runs
#: the command again, AppConfig saves or deploys again, IoT issues another certificate, ECS
#: starts another deployment. Exactly one may land per effect key.
CREATES_EACH_TIME = {
    "SendCommand",
    "CreateHostedConfigurationVersion",
    "StartDeployment",
    "CreateCertificateFromCsr",
    "UpdateService",
}
_READS = ("Get", "List", "Describe", "Head", "Query", "Scan", "BatchGet", "Search", "Test")


@dataclass
class Harness:
    """Watches (and in a fault run, breaks) the acting calls of one run."""

    mode: str | None = None
    #: The acting call to break: (service, operation, ordinal among calls of that name).
    victim: tuple[str, str, int] | None = None
    audit_table: str = ""
    seen: list[tuple[str, str, int]] = field(default_factory=list)
    #: The action each call in `seen` was made for.
    actions: list[str] = field(default_factory=list)
    #: Effect key -> operations that reached AWS under it, in order.
    landed: dict[str, list[str]] = field(default_factory=dict)
    fired: bool = False
    #: (action, key) whose result record must fail once (the audit_write mode).
    break_record: tuple[str, str] | None = None

    def watch(self, made: Any) -> None:
        made.meta.events.register_first("before-send", self.before_send)

    def before_send(self, request: Any, event_name: str, **_: Any) -> Any:
        _, service, operation = event_name.split(".", 2)
        if self.break_record and service == "dynamodb" and operation == "PutItem":
            return self._audit_write(request)
        acting = effects.ACTING.get()
        if acting is None or operation.startswith(_READS):
            return None
        action, key = acting
        ordinal = sum(1 for s, o, _ in self.seen if (s, o) == (service, operation))
        call = (service, operation, ordinal)
        self.seen.append(call)
        self.actions.append(action)
        if call != self.victim or self.fired:
            self.landed.setdefault(key, []).append(operation)
            return None
        self.fired = True
        return self._fault(request, event_name, operation, action, key)

    def _fault(self, request: Any, event_name: str, operation: str, action: str, key: str) -> Any:
        if self.mode == "throttled":
            raise ClientError(
                {"Error": {"Code": "ThrottlingException", "Message": "Rate exceeded"}}, operation
            )
        if self.mode == "unavailable":
            raise ClientError(
                {
                    "Error": {"Code": "ServiceUnavailable", "Message": "try again"},
                    "ResponseMetadata": {"HTTPStatusCode": 503},
                },
                operation,
            )
        if self.mode == "timeout":
            raise ReadTimeoutError(endpoint_url=request.url)
        self.landed.setdefault(key, []).append(operation)
        if self.mode == "lost_response":
            botocore_stubber(event_name=event_name, request=request)  # it lands...
            raise ConnectionClosedError(endpoint_url=request.url)  # ...its answer does not
        # audit_write: moto answers as usual (botocore asks every before-send handler, so a
        # response returned here would land the call twice)... and its record will not write.
        self.break_record = (action, key)
        return None

    def _audit_write(self, request: Any) -> Any:
        body = json.loads(request.body)
        item = body.get("Item", {})
        assert self.break_record is not None
        action, key = self.break_record
        if (
            body.get("TableName") == self.audit_table
            and item.get("action", {}).get("S") == action
            and key in item.get("details", {}).get("S", "")
        ):
            self.break_record = None
            raise ClientError(
                {"Error": {"Code": "ProvisionedThroughputExceededException", "Message": "slow"}},
                "PutItem",
            )
        return None


@dataclass
class Outcome:
    runs: list[dict[str, Any]]
    records: list[dict[str, Any]]
    pages: list[dict[str, Any]]


@contextmanager
def watched(harness: Harness) -> Iterator[None]:
    clients.observers.append(harness.watch)
    try:
        yield
    finally:
        clients.observers.remove(harness.watch)


def run_sample(name: str, harness: Harness) -> Outcome:
    """The sample in its demo scene, as `selfheal demo` runs it, under the harness."""
    path = SAMPLES / f"{name}.json"
    event = load_event(path)
    scene = worlds.scene_for(Path(path))
    with watched(harness), ExitStack() as stack:
        p = stack.enter_context(Pipeline(scheduler=scene.scheduler, log_level="ERROR"))
        harness.audit_table = p.tables["audit"]
        if not scene.services and sim.needed_for(event):
            stack.enter_context(sim.running(p))
        armed = scene.stage(p, stack)
        runs = p.run_event(
            event,
            gate_decision="resume",
            operator="harness",
            acknowledge=scene.acknowledge,
            armed=armed,
            hold_until_parked=scene.hold_until_gate,
        )
        records = [{**r, "details": json.loads(r.get("details", "{}"))} for r in p.audit_records()]
        return Outcome(runs, records, p.notifications())


def ending(outcome: Outcome) -> list[tuple[str, str]]:
    return [
        (r["status"], r["actions"][-1]["outcome"] if r["actions"] else "") for r in outcome.runs
    ]


def problems(outcome: Outcome, harness: Harness, clean: list[tuple[str, str]]) -> list[str]:
    found = []
    recorded = {
        r["details"]["key"]
        for r in outcome.records
        if effects.RETURNED in r["details"] and "key" in r["details"]
    }
    for key, operations in harness.landed.items():
        twice = [op for op, n in Counter(operations).items() if n > 1 and op in CREATES_EACH_TIME]
        if twice:
            found.append(f"{key}: {twice} landed twice")
        if key not in recorded:
            found.append(f"{key}: {operations} landed, no record")
    for key in recorded - set(harness.landed):
        found.append(f"{key}: recorded, never landed")
    paged = any(n["level"] in ("l1", "l2") for n in outcome.pages)
    if ending(outcome) != clean and not paged:
        found.append(f"ended {ending(outcome)} instead of {clean}, and nobody was paged")
    if any(r["status"] == "FAILED" for r in outcome.runs) and not paged:
        found.append("an execution FAILED and nobody was paged")
    return found


@functools.cache
def discovered(sample: str) -> tuple[list[tuple[str, str]], list[tuple[str, str, int]]]:
    """The clean run's ending and its acting calls: the first call of each kind (action,
    service, operation); a page of 50 copies is one kind, faulted at its first copy."""
    harness = Harness()
    clean = run_sample(sample, harness)
    assert problems(clean, harness, ending(clean)) == [], "the clean run itself is wrong"
    kinds: dict[tuple[str, str, str], tuple[str, str, int]] = {}
    for call, action in zip(harness.seen, harness.actions, strict=True):
        kinds.setdefault((action, call[0], call[1]), call)
    return ending(clean), list(kinds.values())


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("sample", SCENARIOS)
def test_every_acting_call_survives_the_fault_once_and_on_the_record(
    sample: str, mode: str
) -> None:
    clean, acting = discovered(sample)
    assert acting, f"{sample}: the harness found no acting call"

    report: dict[str, list[str]] = {}
    for victim in acting:
        harness = Harness(mode=mode, victim=victim)
        outcome = run_sample(sample, harness)
        assert harness.fired, f"{victim} was not called again in mode {mode}"
        if found := problems(outcome, harness, clean):
            report[str(victim)] = found
    assert report == {}
