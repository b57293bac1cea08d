"""The deployed pipeline, built inside moto from the same convention files the CDK reads.

`Pipeline` is a context manager: it starts moto (with the real Step Functions
interpreter), creates the tables, topics, functions and state machines the CDK
would, installs the virtual clock and the in-process Lambda adapter, seeds the
simulated world, and then routes events through the real rule patterns.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import random
import reprlib
import secrets
import sys
import threading
import uuid
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from unittest import mock

import boto3
from botocore.exceptions import ClientError
from moto import mock_aws
from moto.awslambda.models import lambda_backends
from moto.moto_api._internal import mock_random
from selfheal_cdk import spec as spec_mod
from selfheal_shared.core import clock as shared_clock

from . import aws_validation, buckets, iam_roles, replay, routing, ssm_agent
from .alarms import Instances, LocalAlarms
from .clock import VirtualClock
from .host import PREFIX, REGION, deployed_name
from .iam_enforcement import Enforcer
from .lambda_adapter import InProcessLambdas
from .moto_extensions import Extensions
from .page_receiver import PageReceiver
from .sagemaker_local import TrainingJobs
from .worlds import World

log = logging.getLogger(__name__)

#: Seeds moto's identifiers and the uuid4s of the runtime and the remediators (execution
#: names, command ids) in a pipeline: the same run prints the same timeline.
ID_SEED = 20261120
_SEEDED_CALLERS = ("local.", "selfheal_fn_", "selfheal_shared")
_real_uuid4 = uuid.uuid4
LAYER_PATH = spec_mod.ROOT / "functions" / "shared" / "python"


@dataclass
class JournalEntry:
    at: datetime
    kind: str  # event | route | refused | alarm | gate
    text: str
    data: dict[str, Any] = field(default_factory=dict)
    seq: int = field(default_factory=shared_clock.sequence)


class ExecutionTimeout(RuntimeError):
    pass


#: The functions' code in moto (they run in-process): an empty zip, base64 as on the wire.
_EMPTY_ZIP = base64.b64encode(b"PK\x05\x06" + b"\x00" * 18).decode()


#: Workflows that accompany an incident's own workflow rather than tell its story: the page
#: chain's watcher pages on the policy's clock whatever the incident's workflow waits on.
COMPANIONS = ("page_chain",)


class Pipeline:
    """`start`: where virtual time begins (default `clock.DEFAULT_START`, a fixed instant:
    nothing here reads the wall clock). `scheduler=True` runs concurrent workflows on one
    counted timeline (see local/clock.py). `alarm_instances` names the instances of
    templated alarm definitions to create and evaluate ({"lambda-errors": [{"FunctionName":
    ..., "Alias": ...}]}; local/alarms.py); None: the world's own (`alarmInstances`)."""

    def __init__(
        self,
        *,
        world: World | None = None,
        start: datetime | None = None,
        scale: float = 0.0,
        scheduler: bool = False,
        dry_run: bool = False,
        log_level: str = "ERROR",
        spec: spec_mod.Spec | None = None,
        enforce_iam: bool = True,
        alarm_instances: Instances | None = None,
    ) -> None:
        """`enforce_iam=False` exists for one measurement only: the cost of the IAM check
        (benchmarks/iam_cost.py). Everything else runs enforced."""
        self.spec = spec or spec_mod.load()
        self._enforce_iam = enforce_iam
        problems = self.spec.problems()
        if problems:
            raise spec_mod.SpecError("; ".join(problems))
        self.world = world if world is not None else World.load()
        self.clock = VirtualClock(start, scale=scale, scheduler=scheduler)
        self.lambdas = InProcessLambdas(activity=self.clock.busy)
        self.extensions = Extensions(region=REGION)
        #: The managed hosts (local/ssm_agent.py): Run Command really runs there.
        self.hosts = ssm_agent.Agent(
            now=self.clock.now, logs=self._ship_log, documents=self.extensions.ssm_document
        )
        self.extensions.hosts = self.hosts
        self.training = TrainingJobs(self.clock)  # SageMaker jobs that train (scheduled jobs)
        #: The alarms of events/alarms/, created and evaluated from metric data (local/alarms.py).
        instances = self.world.spec.alarmInstances if alarm_instances is None else alarm_instances
        self.alarms = LocalAlarms(self, alarm_event, dict(instances))
        self.buckets: dict[str, str] = {}
        self.journal: list[JournalEntry] = []
        self.started: list[str] = []  # every execution a routed event started, in order
        #: The clock's time at its last jump, and the stamp of the logs shipped at a jump
        #: (this thread's: a Lambda's shipping before it runs stamps `now`).
        self._last_tick = self.clock.now()
        self._shipping = threading.local()
        self._journal_lock = threading.Lock()
        self._dry_run = dry_run
        self._log_level = log_level
        self._stack = ExitStack()
        self._saved_env: dict[str, str | None] = {}
        self.state_machines: dict[str, str] = {}  # workflow -> ARN
        self.topics: dict[str, str] = {}
        self.tables: dict[str, str] = {}
        self.role_arn = ""
        #: Every function's and state machine's calls checked against its synthesized role.
        self.iam: Enforcer | None = None
        #: The HTTP subscriber on every page topic: what it received is what was paged.
        self.receiver = PageReceiver()
        self._id_streams: dict[str, random.Random] = {}
        self._clients: dict[str, Any] = {}
        self._clients_lock = threading.Lock()
        self._ids_lock = threading.Lock()

    # -- lifecycle -------------------------------------------------------------------

    def __enter__(self) -> Pipeline:
        try:
            self._set_env()
            if self._log_level != "DEBUG":
                # moto logs every Fail state as an ERROR; the summary reports them properly.
                logging.getLogger("moto").setLevel(logging.CRITICAL)
            if str(LAYER_PATH) not in sys.path:
                sys.path.insert(0, str(LAYER_PATH))  # what the layer is at /opt/python in AWS
            from selfheal_shared.core import clients

            self._stack.enter_context(
                mock_aws(
                    config={
                        "stepfunctions": {"execute_state_machine": True},
                        "core": {"reset_boto3_session": False},
                    }
                )
            )
            clients.reset()
            self._stack.callback(clients.reset)
            _cold_containers()
            mock_random.seed(ID_SEED)
            self._stack.enter_context(mock.patch.object(uuid, "uuid4", self._uuid4))
            self._stack.enter_context(self.clock.installed())
            self._stack.enter_context(self.lambdas.installed())
            # The CloudWatch agent on each host ships its log files before a function reads.
            self.lambdas.before_invoke.append(lambda _name, _event: self.hosts.ship_logs())
            self.extensions.on_put_events = self._put_events
            self._stack.enter_context(self.extensions.installed())
            self._stack.enter_context(self.training.installed())
            self._build()
            if self._enforce_iam:
                self.iam = iam_roles.enforcer(self, self.role_arn)
                self._stack.enter_context(self.iam.installed())
                clients.reset()  # the clients made so far were made unwatched
                self.lambdas.acting_as = self.iam.acting_as
                self.extensions.on_state_client = self._watch_state_client
            self._stack.enter_context(self.alarms.installed())
            self.alarms.create()  # before the world: an alarm it finds is not the world's
            self.world.seed(self)
            # The world's seeding starts executions (the ingestion batches) that call moto
            # while the next seeding call is answered: both draw moto's seeded ids, in an
            # order that varies from run to run. Seeded again once it stands still, every id
            # from here on is the same on every run (the demo prints some).
            mock_random.seed(ID_SEED + 1)
            self.clock.listeners.append(self._on_time_passed)
            if self.clock.scheduler:
                self._stack.enter_context(self.clock.driving())
        except BaseException:
            self.__exit__(*sys.exc_info())
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            if not self.clock.wind_down(timeout=60.0):
                log.warning("pipeline closed with work under way: %s", self.clock.describe())
            self._stack.close()
            self._clients.clear()
        finally:
            for key, value in self._saved_env.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value

    def _set_env(self) -> None:
        env = {
            "AWS_DEFAULT_REGION": REGION,
            "AWS_REGION": REGION,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "POWERTOOLS_SERVICE_NAME": "selfheal",
            "POWERTOOLS_TRACE_DISABLED": "true",
            "POWERTOOLS_METRICS_DISABLED": "true",
            "POWERTOOLS_LOG_LEVEL": self._log_level,
            "SELFHEAL_DRY_RUN": "true" if self._dry_run else "false",
        }
        env.update(
            {f"SELFHEAL_TABLE_{t.upper()}": deployed_name("table", t) for t in spec_mod.TABLES}
        )
        env.update(buckets.environment(f"arn:aws:iam::123456789012:role/{PREFIX}-local"))
        for key, value in env.items():
            self._saved_env.setdefault(key, os.environ.get(key))
            os.environ[key] = value

    def _watch_state_client(self, client: Any, role_arn: str) -> None:
        assert self.iam is not None
        principal = self.iam.principal_for_role(role_arn)
        if principal is None:
            raise RuntimeError(f"execution role {role_arn!r} is no state machine's role")
        self.iam.watch(client, principal, replace=True)

    def _uuid4(self) -> uuid.UUID:
        """One seeded stream per calling module, so concurrent callers (botocore numbers
        every request) cannot shift each other's ids; code outside selfheal stays random."""
        caller = str(sys._getframe(1).f_globals.get("__name__", ""))
        if not caller.startswith(_SEEDED_CALLERS):
            return _real_uuid4()
        with self._ids_lock:
            stream = self._id_streams.setdefault(caller, random.Random(f"{ID_SEED}:{caller}"))
            return uuid.UUID(int=stream.getrandbits(128), version=4)

    def add_host(self, name: str, tags: dict[str, str]) -> ssm_agent.Host:
        """A managed host of this pipeline: a sandbox directory (removed at exit) registered
        with its tags, which SSM answers as the managed instance's (IAM reads them there);
        its users are the world's to add (`Host.add_user`)."""
        import shutil
        import tempfile

        root = Path(tempfile.mkdtemp(prefix=f"selfheal-host-{name}-"))
        self._stack.callback(shutil.rmtree, root, ignore_errors=True)
        host = self.hosts.register(ssm_agent.Host(name, root, dict(tags)))
        self._stack.callback(host.close)  # before the directory goes (LIFO)
        return host

    def _ship_log(self, group: str, stream: str, text: str) -> None:
        at = getattr(self._shipping, "at", None) or self.clock.now()
        ssm_agent.put_logs(self.client("logs"), at, group, stream, text)

    def client(self, service: str) -> Any:
        """One boto3 client per service for the pipeline's life (they are thread-safe;
        building one costs ~15 ms, and the world asks for some at every tick)."""
        with self._clients_lock:
            if service not in self._clients:
                self._clients[service] = _runtime_client(service)
            return self._clients[service]

    # -- building the pipeline from the convention files -------------------------------

    def _build(self) -> None:
        iam = self.client("iam")
        self.role_arn = iam.create_role(
            RoleName=f"{PREFIX}-local",
            AssumeRolePolicyDocument=json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Effect": "Allow",
                            "Action": "sts:AssumeRole",
                            "Principal": {
                                "Service": ["lambda.amazonaws.com", "states.amazonaws.com"]
                            },
                        }
                    ],
                }
            ),
        )["Role"]["Arn"]
        ddb = self.client("dynamodb")
        keys = {
            "audit": [("incidentId", "HASH"), ("seq", "RANGE")],
            "idempotency": [("id", "HASH")],
            "guard_state": [("pk", "HASH")],
        }
        for table in spec_mod.TABLES:
            name = deployed_name("table", table)
            ddb.create_table(
                TableName=name,
                BillingMode="PAY_PER_REQUEST",
                KeySchema=[{"AttributeName": k, "KeyType": t} for k, t in keys[table]],
                AttributeDefinitions=[
                    {"AttributeName": k, "AttributeType": "S"} for k, _ in keys[table]
                ],
            )
            self.tables[table] = name
        sns = self.client("sns")
        self._stack.enter_context(self.receiver.running())
        for level in spec_mod.TOPICS:
            arn = sns.create_topic(Name=deployed_name("topic", level))["TopicArn"]
            sns.subscribe(TopicArn=arn, Protocol="http", Endpoint=self.receiver.url(level))
            self.topics[level] = arn
            os.environ[f"SELFHEAL_TOPIC_{level.upper()}"] = arn
            self._saved_env.setdefault(f"SELFHEAL_TOPIC_{level.upper()}", None)
        # Straight into moto's Lambda, with the body a CreateFunction request carries (what
        # its answer stores): a full pipeline has ~80 functions, ~10 ms or more per round trip.
        lam = lambda_backends[iam_roles.ACCOUNT][REGION]
        function_arns: dict[str, str] = {}
        for fn in self.spec.functions.values():
            name = deployed_name("fn", fn.name)
            function_arns[fn.name] = lam.create_function(
                {
                    "FunctionName": name,
                    "Runtime": spec_mod.LAMBDA_RUNTIME,
                    "Role": iam_roles.create(self, "function", fn.name),
                    "Handler": fn.handler,
                    "Code": {"ZipFile": _EMPTY_ZIP},
                    "Timeout": fn.timeout_seconds,
                    "MemorySize": fn.memory_mb,
                }
            ).function_arn
            self.lambdas.register(name, fn)
        self.buckets = buckets.create(self.client("s3"))
        bindings = self.spec.bindings(
            function_arn=function_arns.__getitem__,
            topic_arn=self.topics.__getitem__,
            table_name=self.tables.__getitem__,
            bucket_name=self.buckets.__getitem__,
        )
        events = self.client("events")
        for bus in sorted({rule.event_bus for rule in self.spec.rules.values()} - {"default"}):
            events.create_event_bus(Name=bus)  # the core stack's buses (cdk routing.py)
        iot = self.client("iot")
        iot.create_policy(
            policyName="selfheal-edge",
            policyDocument=json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [{"Effect": "Allow", "Action": "iot:Connect", "Resource": "*"}],
                }
            ),
        )
        from selfheal_shared.core import page_ack
        from selfheal_shared.services import check_document

        # The core stack's page acknowledgement signing key (cdk page_ack_url.py): generated,
        # as Secrets Manager's GenerateSecretString does; the tests read it to sign.
        self.client("secretsmanager").create_secret(
            Name=page_ack.SECRET_NAME, SecretString=secrets.token_hex(24)
        )
        # The core stack's read-only check document (cdk stack.py), from the same definition.
        self.client("ssm").create_document(
            Name=check_document.NAME,
            Content=json.dumps(check_document.content()),
            DocumentType="Command",
            DocumentFormat="JSON",
        )
        from selfheal_shared.ingestion import ingestion_documents

        # The core stack's ingestion failover documents (cdk stack.py), the same definitions.
        for name, content in ingestion_documents.documents().items():
            self.client("ssm").create_document(
                Name=name, Content=json.dumps(content), DocumentType="Command",
                DocumentFormat="JSON",
            )  # fmt: skip
        sfn = self.client("stepfunctions")
        for wf in self.spec.workflows.values():
            definition = wf.render(bindings)
            self.state_machines[wf.name] = sfn.create_state_machine(
                name=deployed_name("sm", wf.name),
                definition=json.dumps(definition),
                roleArn=iam_roles.create(self, "stateMachine", wf.name),
                type="STANDARD",
            )["stateMachineArn"]

    # -- events ------------------------------------------------------------------------

    def log(self, kind: str, text: str, *, seq: int | None = None, **data: Any) -> None:
        """`seq`: taken before what the line reports started, so that what it started
        (on other threads) sorts after it in the same instant."""
        with self._journal_lock:
            entry = JournalEntry(self.clock.now(), kind, text, data)
            if seq is not None:
                entry.seq = seq
            self.journal.append(entry)

    def put_event(
        self, event: dict[str, Any], bus: str = "default", *, rebase: bool = False
    ) -> list[str]:
        """Route one event like EventBridge: every matching rule on the bus starts its workflow.
        `bus="*"` (replaying a saved event) tries the rules of every bus; `rebase` moves a
        saved event's timestamps so it happens now (local/replay.py).

        Never raises on an event (issue 19). What PutEvents would refuse (over 256 KB, not
        JSON: `routing.admit`) is refused here, and a matched rule whose workflow does not
        start (Step Functions refuses its input) is dead-lettered as the rule's target would
        be; both keep the event in the journal (`refusals`), never dropped."""
        if rebase:
            event = replay.rebase(event, self.clock.now())
        self.log("event", _describe_event(event), event=event)
        admission = routing.admit(event, self.spec.rules.values(), bus)
        if admission.refusal is not None:
            self.log("refused", f"not put on the bus: {admission.refusal}", event=event)
            return []
        started, dead = [], list(admission.dead)
        for rule, text in admission.targets:
            seq = shared_clock.sequence()  # the route sorts before what its workflow does
            try:
                arn = self.client("stepfunctions").start_execution(
                    stateMachineArn=self.state_machines[rule.workflow],
                    name=f"{rule.name}-{uuid.uuid4().hex[:12]}",
                    input=text,
                )["executionArn"]
            except ClientError as exc:
                dead.append((rule, str(exc)))
                continue
            self.log(
                "route", f"rule {rule.name} -> workflow {rule.workflow}", seq=seq, execution=arn
            )
            started.append(arn)
        for rule, why in dead:
            self.log(
                "refused",
                f"rule {rule.name}: {rule.workflow} not started, kept as a dead letter: {why}",
                event=event,
            )
        self.started += started
        if not started and not dead:
            self.log("route", "matched no rule; nothing started")
        return started

    def refusals(self) -> list[JournalEntry]:
        """Events refused at the door or dead-lettered: why in `text`, the event in
        `data["event"]`, kept for inspection as AWS keeps them (the PutEvents answer, the DLQ)."""
        return [j for j in self.journal if j.kind == "refused"]

    def _put_events(self, entries: list[dict[str, Any]]) -> list[str]:
        """What EventBridge does with PutEvents entries it accepted (`local/aws_validation.py`
        refused the others): wrap each as an event and route it. Returns the event ids."""
        ids: list[str] = []
        for entry in entries:
            now = self.clock.now()
            event = {
                "version": "0",
                "id": str(uuid.uuid4()),
                "detail-type": entry.get("DetailType"),
                "source": entry.get("Source"),
                "account": "123456789012",
                "time": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "region": REGION,
                "resources": entry.get("Resources", []),
                "detail": json.loads(entry["Detail"]),
            }
            self.put_event(event, bus=aws_validation.event_bus_name(entry.get("EventBusName")))
            ids.append(event["id"])
        return ids

    def start_manual(self, workflow: str, payload: dict[str, Any]) -> str:
        """What an operator does from the console: start a workflow with their own input."""
        if workflow not in self.state_machines:
            raise KeyError(f"no workflow {workflow!r}; have {sorted(self.state_machines)}")
        seq = shared_clock.sequence()
        arn: str = self.client("stepfunctions").start_execution(
            stateMachineArn=self.state_machines[workflow],
            name=f"manual-{uuid.uuid4().hex[:12]}",
            input=json.dumps(payload),
        )["executionArn"]
        self.log("route", f"manual execution of {workflow}", seq=seq, execution=arn)
        return arn

    def set_alarm_state(self, name: str, value: str, reason: str) -> list[str]:
        """Move an alarm and emit the EventBridge event CloudWatch would (moto emits none)."""
        cw = self.client("cloudwatch")
        found = cw.describe_alarms(AlarmNames=[name], AlarmTypes=["MetricAlarm", "CompositeAlarm"])
        alarm = (found["MetricAlarms"] + found["CompositeAlarms"])[0]
        previous = alarm["StateValue"]
        cw.set_alarm_state(AlarmName=name, StateValue=value, StateReason=reason)
        self.log("alarm", f"alarm {name}: {previous} -> {value} ({reason})")
        make = composite_alarm_event if "AlarmRule" in alarm else alarm_event
        return self.put_event(make(alarm, value, previous, reason, self.clock.now()))

    def settle_alarm(self, name: str, value: str, reason: str) -> None:
        """A scene's history: the alarm has been in `value` since before the story, quietly
        (no event: the sample is the event); evaluation goes on from it."""
        self.alarms.settle(name, value, reason)

    def _on_time_passed(self, now: datetime) -> None:
        self.world.evaluate(self)
        # The CloudWatch agents ship what the hosts wrote (continuously, in AWS) before the
        # alarms read the metrics their log lines make, stamped with the time it was written
        # at: the virtual time before this jump (the hosts write in real time while the
        # clock stands still), so a jump leaves no line in a minute it never lived in.
        self._shipping.at, self._last_tick = self._last_tick, now
        try:
            self.hosts.ship_logs()
        finally:
            self._shipping.at = None
        self.alarms.on_time_passed(now)

    # -- running -----------------------------------------------------------------------

    def parked(self) -> dict[str, str]:
        """Executions waiting at a human gate: execution ARN -> incident id."""
        from selfheal_shared.core import approvals

        return {g["details"].get("executionId", ""): g["incidentId"] for g in approvals.pending()}

    def wait(
        self, arns: list[str], timeout: float = 60.0, *, until_parked: bool = False
    ) -> list[str]:
        """Wait until every execution has finished (or, with `until_parked`, is waiting
        at a human gate). Returns the parked ones."""
        sfn = self.client("stepfunctions")
        pending = list(arns)
        parked: list[str] = []

        def settled() -> bool:
            nonlocal pending, parked
            running = [
                a for a in pending if sfn.describe_execution(executionArn=a)["status"] == "RUNNING"
            ]
            gates = self.parked() if until_parked and running else {}
            parked = [a for a in running if a in gates]
            pending = [a for a in running if a not in gates]
            return not pending

        if not self.clock.wait_until(settled, timeout):
            raise ExecutionTimeout(
                f"still running after {timeout:.0f} s: {pending}; {self.clock.describe()}"
            )
        return parked

    def decide(
        self,
        execution_arn: str,
        decision: str,
        operator: str,
        reason: str = "",
        acknowledge: tuple[str, ...] = (),
    ) -> None:
        """Answer the gate an execution waits at, as `selfheal approve` would."""
        from selfheal_shared.core import approvals

        incident = self.parked()[execution_arn]
        # Logged before the answer goes out: the workflow's next step may record something in
        # the same virtual second, and the timeline must read in the same order every run.
        self.log(
            "gate",
            f"{operator} decided {decision!r} for {incident}" + (f": {reason}" if reason else ""),
        )
        try:
            approvals.decide(incident, decision, operator, reason, list(acknowledge))
        except Exception as exc:
            self.log("gate", f"the answer for {incident} was not delivered: {exc}")
            raise

    def run_event(
        self,
        event: dict[str, Any],
        timeout: float = 60.0,
        *,
        gate_decision: str | None = None,
        operator: str = "local-operator",
        decision_after_minutes: float = 12,
        bus: str = "*",
        rebase: bool = True,
        acknowledge: tuple[str, ...] = (),
        armed: Callable[[], None] | None = None,
        hold_until_parked: bool = False,
    ) -> list[dict[str, Any]]:
        """Replay a saved event (rebased to now unless `rebase=False`) and wait. With
        `gate_decision`, answer each execution's human gate once with it (and `acknowledge`);
        a gate that refuses the answer and asks again, and any gate without
        `gate_decision`, is reported RUNNING (awaiting a decision).

        `armed` runs with virtual time held right before the event is routed (what it
        schedules starts with the event); `hold_until_parked` keeps virtual time still
        until the runs park at a gate (scheduler mode: a gate's timeout must not pass
        before the answer)."""
        before = len(self.started)
        hold = ExitStack()
        hold.enter_context(self.clock.held())
        try:
            if armed is not None:
                armed()
            arns = self.put_event(event, bus=bus, rebase=rebase)
            if not hold_until_parked:
                hold.close()
            parked = self.wait(arns, timeout, until_parked=True)
            return self._answer(
                arns, parked, before, timeout, gate_decision, operator, decision_after_minutes,
                acknowledge, hold,
            )  # fmt: skip
        finally:
            hold.close()

    def _answer(
        self,
        arns: list[str],
        parked: list[str],
        before: int,
        timeout: float,
        gate_decision: str | None,
        operator: str,
        decision_after_minutes: float,
        acknowledge: tuple[str, ...],
        hold: ExitStack,
    ) -> list[dict[str, Any]]:
        """`run_event`'s gates: each answered once, `decision_after_minutes` later."""
        answered: set[str] = set()
        while True:
            # A workflow that hands the incident on (an event on a selfheal bus) started
            # the next one before it ended: its run belongs to this event's story too.
            handed = [a for a in self.started[before:] if a not in arns and not self._companion(a)]
            if handed:
                arns += handed
                parked = self.wait(arns, timeout, until_parked=True)
                continue
            todo = [a for a in parked if a not in answered]
            if not (gate_decision and todo):
                break
            gates = self.parked()
            for arn in todo:
                # The incident id, as `selfheal gates` lists it and `selfheal approve` takes it.
                self.log("gate", f"awaiting a human decision for {gates[arn]}")
            self.clock.advance(decision_after_minutes * 60)  # people take a while to answer
            for arn in todo:
                self.decide(
                    arn,
                    gate_decision,
                    operator,
                    reason="answered by the local runtime",
                    acknowledge=acknowledge,
                )
            hold.close()  # answered: time runs on
            answered.update(todo)
            parked = self.wait(arns, timeout, until_parked=True)
        # The incident's page chain watcher goes on in time of its own (it may wait for
        # L3 while the story holds the clock at a gate): waited for once the story is told.
        hold.close()
        if companions := [a for a in self.started[before:] if a not in arns]:
            self.wait(companions, timeout)
            arns = [*arns, *companions]
        return [self.execution_summary(a) for a in arns]

    def _companion(self, arn: str) -> bool:
        """An execution of a workflow that accompanies an incident's own (`COMPANIONS`)."""
        machine = arn.split(":execution:", 1)[-1].split(":", 1)[0]
        return machine in {deployed_name("sm", w) for w in COMPANIONS}

    # -- reading results ---------------------------------------------------------------

    def audit_records(self, execution: str | None = None) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        for page in (
            self.client("dynamodb").get_paginator("scan").paginate(TableName=self.tables["audit"])
        ):
            for item in page["Items"]:
                row = {k: next(iter(v.values())) for k, v in item.items()}
                if execution is None or row.get("execution") == execution:
                    items.append(row)
        return sorted(items, key=lambda r: r["seq"])

    def function_url(self, function: str, body: bytes, headers: dict[str, str]) -> dict[str, Any]:
        """A POST to `function`'s function URL: Lambda invoked (as its own role) with the
        URL's payload format 2.0 event; its answer (`statusCode`, `body`)."""
        event = {
            "version": "2.0",
            "rawPath": "/",
            "headers": {k.lower(): v for k, v in headers.items()},
            "requestContext": {"http": {"method": "POST", "path": "/"}},
            "body": base64.b64encode(body).decode(),
            "isBase64Encoded": True,
        }
        resp = self.client("lambda").invoke(
            FunctionName=deployed_name("fn", function), Payload=json.dumps(event).encode()
        )
        answer: dict[str, Any] = json.loads(resp["Payload"].read())
        return answer

    def notifications(self) -> list[dict[str, Any]]:
        """Every page the subscriber on the topics received so far, in order, with the topic
        level it went to (a publish that reached nobody is not here)."""
        by_arn = {arn: level for level, arn in self.topics.items()}
        return [
            {
                "level": by_arn.get(d["topicArn"], "?"),
                "subject": d["subject"],
                "message": json.loads(d["message"]),
            }
            for d in self.receiver.received()
        ]

    def execution_summary(self, arn: str) -> dict[str, Any]:
        """`duration_ms` is virtual time (the clock runs the executions' dates too)."""
        return self.execution_summaries([arn])[0]

    def execution_summaries(self, arns: list[str]) -> list[dict[str, Any]]:
        """`execution_summary` of each, reading the audit table once (a storm has hundreds)."""
        sfn = self.client("stepfunctions")
        by_execution: dict[str, list[dict[str, Any]]] = {}
        for r in self.audit_records():
            by_execution.setdefault(r.get("execution", ""), []).append(r)
        gates: dict[str, str] | None = None
        out: list[dict[str, Any]] = []
        for arn in arns:
            desc = sfn.describe_execution(executionArn=arn)
            events = sfn.get_execution_history(executionArn=arn, maxResults=1000)["events"]
            states = [
                e["stateEnteredEventDetails"]["name"]
                for e in events
                if "stateEnteredEventDetails" in e
            ]
            workflow = next(
                w for w, sm in self.state_machines.items() if sm == desc["stateMachineArn"]
            )
            records = by_execution.get(arn, [])
            stop = desc.get("stopDate") or self.clock.now()
            summary: dict[str, Any] = {
                "workflow": workflow,
                "executionArn": arn,
                # The incident this execution handled, by the id every record and gate uses.
                "incidentId": records[0]["incidentId"] if records else arn.rsplit(":", 1)[-1],
                "status": desc["status"],
                "states": states,
                "actions": [
                    {
                        "name": r["action"],
                        "outcome": r["outcome"],
                        "result": r["result"],
                        "why": r["why"],
                    }
                    for r in records
                    if r.get("outcome")
                ],
                "steps": [
                    {"name": r["action"], "result": r["result"]}
                    for r in records
                    if not r.get("outcome")
                ],
                "duration_ms": round((stop - desc["startDate"]).total_seconds() * 1000),
            }
            if desc["status"] == "RUNNING":
                gates = self.parked() if gates is None else gates
            if desc["status"] == "RUNNING" and gates and arn in gates:
                summary["awaiting"] = f"human decision for {gates[arn]}"
            elif desc["status"] != "SUCCEEDED":
                summary["error"] = desc.get("error")
                summary["cause"] = desc.get("cause")
            out.append(summary)
        return out


_RUNTIME_CLIENTS: dict[str, Any] = {}
_RUNTIME_CLIENTS_LOCK = threading.Lock()


def _runtime_client(service: str) -> Any:
    """The runtime's own client for `service`, shared by every pipeline of the process: it
    carries no handler of a pipeline's (the IAM check watches the functions' and state
    machines' clients, never these), its credentials are the fixed local ones, and moto
    answers whichever pipeline is up; a suite builds a thousand pipelines, ~14 clients each."""
    with _RUNTIME_CLIENTS_LOCK:
        if service not in _RUNTIME_CLIENTS:
            _RUNTIME_CLIENTS[service] = boto3.client(service, region_name=REGION)
        return _RUNTIME_CLIENTS[service]


def _cold_containers() -> None:
    """A new pipeline is a new deployment: no warm-container cache survives from the last one
    (every pipeline starts at the same virtual instant, so a cache's expiry cannot tell)."""
    from selfheal_shared.edge import edge_registry

    cache = getattr(edge_registry, "_sizes", None)  # site -> (expiry, sizes)
    if isinstance(cache, dict):
        cache.clear()


def _short(value: Any) -> str:
    """A value for a timeline line: bounded, whatever a hostile event holds (reprlib stops
    at a few levels, so a 5,000-deep value costs nothing)."""
    return value[:80] if isinstance(value, str) else _REPR.repr(value)


_REPR = reprlib.Repr()
_REPR.maxlevel, _REPR.maxstring, _REPR.maxother = 3, 80, 80


def _describe_event(event: dict[str, Any]) -> str:
    raw = event.get("detail")
    detail: dict[str, Any] = raw if isinstance(raw, dict) else {}
    kind, source = event.get("detail-type"), event.get("source")
    if kind == "CloudWatch Alarm State Change":
        raw_state = detail.get("state")  # hostile events carry anything here
        state = raw_state.get("value") if isinstance(raw_state, dict) else raw_state
        return f"{kind}: {_short(detail.get('alarmName'))} -> {_short(state)}"
    if kind == "Edge Connectivity Changed":
        edge, state = detail.get("edgeId"), detail.get("state")
        return (
            f"Edge Connectivity Changed: {_short(edge)} -> {_short(state)} "
            f"({_short(detail.get('reason'))})"
        )
    return f"{_short(kind or 'event')} from {_short(source or '?')}"


def alarm_event(
    alarm: dict[str, Any], value: str, previous: str, reason: str, at: datetime
) -> dict[str, Any]:
    """The documented "CloudWatch Alarm State Change" event for a metric alarm."""
    stamp = at.strftime("%Y-%m-%dT%H:%M:%S.") + f"{at.microsecond // 1000:03d}+0000"
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "CloudWatch Alarm State Change",
        "source": "aws.cloudwatch",
        "account": alarm["AlarmArn"].split(":")[4],
        "time": at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": alarm["AlarmArn"].split(":")[3],
        "resources": [alarm["AlarmArn"]],
        "detail": {
            "alarmName": alarm["AlarmName"],
            "state": {"value": value, "reason": reason, "timestamp": stamp},
            "previousState": {
                "value": previous,
                "reason": alarm.get("StateReason", ""),
                "timestamp": stamp,
            },
            "configuration": {
                "description": alarm.get("AlarmDescription", ""),
                "metrics": [
                    {
                        "id": "m1",
                        "metricStat": {
                            "metric": {
                                "namespace": alarm.get("Namespace"),
                                "name": alarm.get("MetricName"),
                                "dimensions": {
                                    d["Name"]: d["Value"] for d in alarm.get("Dimensions", [])
                                },
                            },
                            "period": alarm.get("Period"),
                            "stat": alarm.get("Statistic"),
                        },
                        "returnData": True,
                    }
                ],
            },
        },
    }


def composite_alarm_event(
    alarm: dict[str, Any], value: str, previous: str, reason: str, at: datetime
) -> dict[str, Any]:
    """The documented "CloudWatch Alarm State Change" event for a composite alarm: the same
    detail-type, with `configuration.alarmRule` instead of metrics."""
    event = alarm_event({**alarm, "Dimensions": []}, value, previous, reason, at)
    event["detail"]["configuration"] = {
        "alarmRule": alarm["AlarmRule"],
        "description": alarm.get("AlarmDescription", ""),
    }
    return event
