"""The few AWS calls the remediators make that moto 5.2 does not implement.

Each is a small, faithful stand-in (request and response shapes from the AWS API
reference) served in front of moto's own dispatcher, reading and writing moto's
backends so the rest of moto sees the effect. Anything else falls through to moto.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from unittest import mock

from moto.appconfig.models import appconfig_backends
from moto.cloudwatch.models import cloudwatch_backends
from moto.codedeploy.models import codedeploy_backends
from moto.core.botocore_stubber import BotocoreStubber
from moto.core.exceptions import JsonRESTError
from moto.core.models import DEFAULT_ACCOUNT_ID
from moto.dynamodb.models import DynamoDBBackend
from moto.events.models import events_backends
from moto.logs.models import logs_backends
from moto.sns.models import Subscription
from moto.stepfunctions.parser.asl.component.state.exec.state_task import lambda_eval_utils
from moto.stepfunctions.parser.asl.utils import json_path
from moto.stepfunctions.parser.backend.execution import Execution
from moto.stepfunctions.parser.models import StepFunctionsParserBackend
from moto.timestreaminfluxdb.models import timestreaminfluxdb_backends
from selfheal_shared.core import clock as shared_clock

from . import alarm_evaluation, aws_validation, ssm_agent, strict_moto
from . import cloudtrail as cloudtrail_history
from .aws_validation import AwsError

#: A simulated host's SSM agent (see `Extensions.ssm_agents`).
SsmAgent = Callable[[list[dict[str, Any]], list[str]], dict[str, Any] | None]

Response = tuple[int, dict[str, str], str]

#: ASL definitions moto already parsed without error, in any pipeline of this process.
_VALID_DEFINITIONS: set[str] = set()

#: The state machines' clients by region, service and role, for every pipeline of the process
#: (~15 ms each to build): each pipeline's IAM check watches them anew (`on_state_client`).
_STATE_CLIENTS: dict[tuple[str, str, str], Any] = {}
_STATE_CLIENTS_LOCK = threading.Lock()


@functools.cache
def _sns_signing_key() -> Any:
    """One RSA key for every SNS subscription of this process. moto makes a 2048-bit key per
    subscription to sign its HTTP deliveries (0.1-0.3 s each, on the first page to each topic
    of every pipeline); AWS signs with one certificate per region, and nothing here checks
    the signature."""
    from cryptography.hazmat.primitives.asymmetric import rsa

    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


#: moto's DynamoDB writes, each a condition check then a write (a transaction also snapshots
#: and may restore whole tables): not atomic across threads, as they are in AWS.
DYNAMODB_WRITES = (
    "put_item",
    "update_item",
    "delete_item",
    "transact_write_items",
    "batch_write_item",  # moto's responses write a batch item by item through the above
    "execute_statement",
    "execute_transaction",
    "batch_execute_statement",
)
#: moto's reads iterate the table's dict: a write from another thread in the middle raises
#: "dictionary changed size during iteration" (a crashed Lambda), where AWS just answers.
DYNAMODB_READS = ("get_item", "batch_get_item", "query", "scan", "transact_get_items")


#: How long (virtual minutes) an instance class change keeps a Timestream for InfluxDB
#: instance UPDATING before it is AVAILABLE again (AWS: "can cause an outage", minutes).
TSDB_UPDATE_MINUTES = 12


@functools.cache
def _tsdb_enums() -> dict[str, list[str]]:
    """UpdateDbInstance's enumerated members, from botocore's service model."""
    import botocore.session

    shape = (
        botocore.session.get_session()
        .get_service_model("timestream-influxdb")
        .operation_model("UpdateDbInstance")
        .input_shape
    )
    return {
        name: list(member.enum)
        for name, member in shape.members.items()
        if getattr(member, "enum", None)
    }


def _logs_error(code: str, message: str) -> Response:
    return 400, {}, json.dumps({"__type": code, "message": message})


@contextmanager
def atomic_dynamodb_writes() -> Iterator[None]:
    """Serialise moto's DynamoDB calls with one lock, so a conditional write is atomic as in
    AWS (40 threads against a cap of 10 otherwise get more than 10 slots) and a read never
    walks a table another thread is changing."""
    lock = threading.RLock()

    def serialised(method: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(method)
        def write(*args: Any, **kwargs: Any) -> Any:
            with lock:
                return method(*args, **kwargs)

        return write

    patches = [
        mock.patch.object(DynamoDBBackend, name, serialised(getattr(DynamoDBBackend, name)))
        for name in DYNAMODB_WRITES + DYNAMODB_READS
    ]
    for patch in patches:
        patch.start()
    try:
        yield
    finally:
        for patch in reversed(patches):
            patch.stop()


@dataclass
class Extensions:
    region: str
    #: AppConfig deployments started, in order (moto has no deployment model).
    appconfig_deployments: list[dict[str, Any]] = field(default_factory=list)
    #: AppConfig environments created, per application id (moto 5.2 keeps none).
    appconfig_environments: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    #: CodeDeploy StopDeployment calls, in order.
    codedeploy_stops: list[dict[str, Any]] = field(default_factory=list)
    #: CloudTrail's event history of this account (moto has no LookupEvents): the Lambda
    #: alias changes that succeeded, at virtual time, oldest first (`cloudtrail.py`).
    cloudtrail: cloudtrail_history.EventHistory = field(
        default_factory=cloudtrail_history.EventHistory
    )
    #: Where the valid EventBridge PutEvents entries go (moto cannot deliver to Step
    #: Functions): their event ids, in order.
    on_put_events: Callable[[list[dict[str, Any]]], list[str]] | None = None
    #: Called with each client the Step Functions interpreter makes and the execution's
    #: role ARN (the runtime checks the state machine's calls against that role).
    on_state_client: Callable[[Any, str], None] | None = None
    #: Where IoT data-plane publishes go (the local bridge sends them to the MQTT broker).
    on_iot_publish: Callable[[str, bytes], None] | None = None
    #: Every IoT publish, in order: (topic, payload).
    iot_published: list[tuple[str, bytes]] = field(default_factory=list)
    #: The SSM agents of the simulated hosts: (targets, commands) -> the invocation
    #: (`Status`, `InstanceId`, `Output`), or None when the targets name none of that
    #: agent's hosts (the next one is asked). moto stores commands and runs nothing.
    ssm_agents: list[SsmAgent] = field(default_factory=list)
    #: SendCommand calls answered, by command id: the invocations.
    ssm_invocations: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    #: SendCommand calls answered, in order: what ListCommands returns.
    ssm_commands: list[dict[str, Any]] = field(default_factory=list)
    #: The managed hosts and their real SSM agent (`local/ssm_agent.py`): asked first.
    hosts: ssm_agent.Agent | None = None
    #: CloudWatch Logs transformers (moto has none), by log group name: PutTransformer's
    #: `transformerConfig`, validated.
    log_transformers: dict[str, alarm_evaluation.Transformer] = field(default_factory=dict)
    #: Metric filters put with `applyOnTransformedLogs` (moto drops the flag): (log group,
    #: filter name).
    on_transformed_filters: set[tuple[str, str]] = field(default_factory=set)
    #: Timestream for InfluxDB instances being updated (moto has no UpdateDbInstance): id ->
    #: the virtual time it is AVAILABLE again.
    #: instance id -> (when the update is over, the changes it applies then).
    tsdb_updating: dict[str, tuple[datetime, dict[str, Any]]] = field(default_factory=dict)
    #: UpdateDbInstance calls accepted, in order: the request bodies.
    tsdb_updates: list[dict[str, Any]] = field(default_factory=list)

    def _routes(
        self,
    ) -> list[tuple[str, re.Pattern[str], str | None, Callable[..., Response | None]]]:
        host = r"https://{svc}\.[^/]+\.amazonaws\.com"
        return [
            (
                "GET",
                re.compile(host.format(svc="appconfig") + r"/applications$"),
                None,
                self._list_applications,
            ),
            (
                "GET",
                re.compile(
                    host.format(svc="appconfig")
                    + r"/applications/([^/]+)/configurationprofiles/([^/]+)"
                    + r"/hostedconfigurationversions$"
                ),
                None,
                self._list_hosted_versions,
            ),
            (
                "POST",
                re.compile(host.format(svc="appconfig") + r"/applications/([^/]+)/environments$"),
                None,
                self._create_environment,
            ),
            (
                "GET",
                re.compile(
                    host.format(svc="appconfig") + r"/applications/([^/]+)/environments(\?.*)?$"
                ),
                None,
                self._list_environments,
            ),
            (
                "GET",
                re.compile(
                    host.format(svc="appconfig")
                    + r"/applications/([^/]+)/environments/([^/]+)/deployments$"
                ),
                None,
                self._list_deployments,
            ),
            (
                "POST",
                re.compile(
                    host.format(svc="appconfig")
                    + r"/applications/([^/]+)/environments/([^/]+)/deployments$"
                ),
                None,
                self._start_deployment,
            ),
            (
                "GET",
                re.compile(
                    host.format(svc="appconfig")
                    + r"/applications/([^/]+)/environments/([^/]+)/deployments/(\d+)$"
                ),
                None,
                self._get_deployment,
            ),
            (
                "POST",
                re.compile(
                    r"https://data(-ats)?\.iot\.[^/]+\.amazonaws\.com/topics/(?P<topic>.+)$"
                ),
                None,
                self._iot_publish,
            ),
            (
                "POST",
                re.compile(host.format(svc="events") + r"/$"),
                "AWSEvents.PutEvents",
                self._put_events,
            ),
            (
                "POST",
                re.compile(host.format(svc="ssm") + r"/$"),
                "AmazonSSM.SendCommand",
                self._ssm_send_command,
            ),
            (
                "POST",
                re.compile(host.format(svc="ssm") + r"/$"),
                "AmazonSSM.ListCommandInvocations",
                self._ssm_list_invocations,
            ),
            (
                "POST",
                re.compile(host.format(svc="ssm") + r"/$"),
                "AmazonSSM.ListCommands",
                self._ssm_list_commands,
            ),
            (
                "POST",
                re.compile(host.format(svc="ssm") + r"/$"),
                "AmazonSSM.GetCommandInvocation",
                self._ssm_get_invocation,
            ),
            (
                "POST",
                re.compile(host.format(svc="ssm") + r"/$"),
                "AmazonSSM.DescribeInstanceInformation",
                self._ssm_describe_instances,
            ),
            (
                "POST",
                re.compile(host.format(svc="ssm") + r"/$"),
                "AmazonSSM.AddTagsToResource",
                self._ssm_instance_tags,
            ),
            (
                "POST",
                re.compile(host.format(svc="ssm") + r"/$"),
                "AmazonSSM.ListTagsForResource",
                self._ssm_instance_tags,
            ),
            (
                "POST",
                re.compile(host.format(svc="ssm") + r"/$"),
                "AmazonSSM.RemoveTagsFromResource",
                self._ssm_instance_tags,
            ),
            (
                "POST",
                re.compile(host.format(svc="codedeploy") + r"/$"),
                "CodeDeploy_20141006.StopDeployment",
                self._stop_deployment,
            ),
            (
                "POST",
                re.compile(host.format(svc="logs") + r"/$"),
                "Logs_20140328.PutTransformer",
                self._logs_put_transformer,
            ),
            (
                "POST",
                re.compile(host.format(svc="logs") + r"/$"),
                "Logs_20140328.GetTransformer",
                self._logs_get_transformer,
            ),
            (
                "POST",
                re.compile(host.format(svc="logs") + r"/$"),
                "Logs_20140328.PutMetricFilter",
                self._logs_put_metric_filter,
            ),
            (
                "POST",
                re.compile(host.format(svc="timestream-influxdb") + r"/$"),
                "AmazonTimestreamInfluxDB.UpdateDbInstance",
                self._tsdb_update,
            ),
            *(
                (
                    "POST",
                    re.compile(host.format(svc="timestream-influxdb") + r"/$"),
                    f"AmazonTimestreamInfluxDB.{op}",
                    self._tsdb_settle,
                )
                for op in ("GetDbInstance", "ListDbInstances")
            ),
            (
                "POST",
                re.compile(host.format(svc="cloudtrail") + r"/$"),
                "com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101.LookupEvents",
                self._lookup_events,
            ),
        ]

    # -- CloudWatch Logs: transformers, and the metric filters' checks moto does not make

    def _log_group_exists(self, name: str) -> bool:
        return name in logs_backends[DEFAULT_ACCOUNT_ID][self.region].groups

    def _logs_put_transformer(self, match: re.Match[str], body: dict[str, Any]) -> Response:
        """PutTransformer: the log group must exist (`ResourceNotFoundException`); the
        processors are checked (`InvalidParameterException`) and kept for ingestion."""
        group = str(body.get("logGroupIdentifier", ""))
        if not self._log_group_exists(group):
            return _logs_error(
                "ResourceNotFoundException", "The specified log group does not exist."
            )
        try:
            self.log_transformers[group] = alarm_evaluation.Transformer.parse(
                body.get("transformerConfig") or []
            )
        except ValueError as exc:
            return _logs_error("InvalidParameterException", str(exc))
        return 200, {}, "{}"

    def _logs_get_transformer(self, match: re.Match[str], body: dict[str, Any]) -> Response:
        group = str(body.get("logGroupIdentifier", ""))
        found = self.log_transformers.get(group)
        if found is None:
            return _logs_error(
                "ResourceNotFoundException", "The specified transformer does not exist."
            )
        config = [dict(p) for p in found.processors]
        return 200, {}, json.dumps({"logGroupIdentifier": group, "transformerConfig": config})

    def _logs_put_metric_filter(
        self, match: re.Match[str], body: dict[str, Any]
    ) -> Response | None:
        """PutMetricFilter's checks that moto does not make (the log group exists; the
        pattern, dimensions and value as `alarm_evaluation.check_metric_filter` says;
        `applyOnTransformedLogs` only with a transformer), then moto stores the filter."""
        group = str(body.get("logGroupName", ""))
        if not self._log_group_exists(group):
            return _logs_error(
                "ResourceNotFoundException", "The specified log group does not exist."
            )
        on_transformed = bool(body.get("applyOnTransformedLogs"))
        try:
            alarm_evaluation.check_metric_filter(
                str(body.get("filterPattern", "")),
                list(body.get("metricTransformations") or []),
                on_transformed=on_transformed,
                transformer=self.log_transformers.get(group),
            )
        except ValueError as exc:
            return _logs_error("InvalidParameterException", str(exc))
        key = (group, str(body.get("filterName", "")))
        if on_transformed:
            self.on_transformed_filters.add(key)
        else:
            self.on_transformed_filters.discard(key)
        return None  # moto stores it

    def _lookup_events(self, match: re.Match[str] | None, body: dict[str, Any]) -> Response:
        try:
            return 200, {}, json.dumps(self.cloudtrail.lookup(body, shared_clock.now()))
        except AwsError as exc:
            return exc.status, {}, json.dumps(exc.body())

    def _list_applications(self, match: re.Match[str] | None, body: dict[str, Any]) -> Response:
        """moto 5.2 answers ListApplications with NotImplementedError; its backend keeps them."""
        backend = appconfig_backends[DEFAULT_ACCOUNT_ID][self.region]
        items = [
            {"Id": a.id, "Name": a.name, "Description": a.description or ""}
            for a in backend.applications.values()
        ]
        return 200, {}, json.dumps({"Items": items})

    def _list_hosted_versions(self, match: re.Match[str], body: dict[str, Any]) -> Response:
        backend = appconfig_backends[DEFAULT_ACCOUNT_ID][self.region]
        profile = backend.get_configuration_profile(match.group(1), match.group(2))
        items = [
            {
                "ApplicationId": v.app_id,
                "ConfigurationProfileId": v.config_id,
                "VersionNumber": v.version,
                "Description": v.description,
                "ContentType": v.content_type,
            }
            for v in sorted(profile.config_versions.values(), key=lambda v: -v.version)
        ]
        return 200, {}, json.dumps({"Items": items})

    def _create_environment(self, match: re.Match[str], body: dict[str, Any]) -> Response:
        backend = appconfig_backends[DEFAULT_ACCOUNT_ID][self.region]
        backend.get_application(match.group(1))
        made = {
            "ApplicationId": match.group(1),
            # AWS gives an environment a 7-character id of its own, never its name.
            "Id": hashlib.sha256(f"{match.group(1)}/{body['Name']}".encode()).hexdigest()[:7],
            "Name": body["Name"],
            "Description": body.get("Description", ""),
            "State": "ReadyForDeployment",
        }
        self.appconfig_environments.setdefault(match.group(1), []).append(made)
        return 201, {}, json.dumps(made)

    def _list_environments(self, match: re.Match[str], body: dict[str, Any]) -> Response:
        items = self.appconfig_environments.get(match.group(1), [])
        return 200, {}, json.dumps({"Items": items})

    @staticmethod
    def _bad_environment(env: str) -> Response | None:
        """AWS refuses an EnvironmentId that is not an id (a name such as "production")."""
        if re.fullmatch(r"[a-z0-9]{4,7}", env):
            return None
        error = {"Message": f"EnvironmentId {env!r} does not match [a-z0-9]{{4,7}}"}
        return 400, {"x-amzn-ErrorType": "BadRequestException"}, json.dumps(error)

    def _list_deployments(self, match: re.Match[str], body: dict[str, Any]) -> Response:
        if bad := self._bad_environment(match.group(2)):
            return bad
        items = [
            d
            for d in reversed(self.appconfig_deployments)
            if d["ApplicationId"] == match.group(1) and d["EnvironmentId"] == match.group(2)
        ]
        return 200, {}, json.dumps({"Items": items})

    def _start_deployment(self, match: re.Match[str], body: dict[str, Any]) -> Response:
        if bad := self._bad_environment(match.group(2)):
            return bad
        backend = appconfig_backends[DEFAULT_ACCOUNT_ID][self.region]
        backend.get_configuration_profile(match.group(1), body["ConfigurationProfileId"])
        deployment = {
            "ApplicationId": match.group(1),
            "EnvironmentId": match.group(2),
            "DeploymentStrategyId": body["DeploymentStrategyId"],
            "ConfigurationProfileId": body["ConfigurationProfileId"],
            "ConfigurationVersion": body["ConfigurationVersion"],
            "DeploymentNumber": len(self.appconfig_deployments) + 1,
            "State": "COMPLETE",
            # AllAtOnce with no bake time: started and completed at once, at virtual time.
            "StartedAt": shared_clock.now().isoformat(),
            "CompletedAt": shared_clock.now().isoformat(),
        }
        self.appconfig_deployments.append(deployment)
        return 201, {}, json.dumps(deployment)

    def _get_deployment(self, match: re.Match[str], body: dict[str, Any]) -> Response:
        app, env, number = match.group(1), match.group(2), int(match.group(3))
        if bad := self._bad_environment(env):
            return bad
        for d in self.appconfig_deployments:
            if (d["ApplicationId"], d["EnvironmentId"], d["DeploymentNumber"]) == (
                app,
                env,
                number,
            ):
                return 200, {}, json.dumps(d)
        error = {"Message": f"Deployment {number} not found", "ResourceName": str(number)}
        return 404, {"x-amzn-ErrorType": "ResourceNotFoundException"}, json.dumps(error)

    def _put_events(self, match: re.Match[str], body: dict[str, Any]) -> Response:
        return self.put_events(body)

    def put_events(self, body: dict[str, Any]) -> Response:
        """PutEvents as EventBridge answers it, for boto3 in-process and for `selfheal serve`
        alike: the whole request refused (`ValidationException`, `ResourceNotFoundException`
        for a bus that does not exist, checked by moto) or each entry put or failed on its
        own (`InvalidArgument`, `MalformedDetail`), `FailedEntryCount` counting the failed."""
        try:
            entries = aws_validation.put_events_entries(body)
            for bus in {aws_validation.event_bus_name(e.get("EventBusName")) for e in entries}:
                self._event_bus(bus)
        except AwsError as exc:
            return exc.status, {}, json.dumps(exc.body())
        errors = [aws_validation.entry_error(e) for e in entries]
        valid = [e for e, error in zip(entries, errors, strict=True) if error is None]
        put = self.on_put_events(valid) if self.on_put_events is not None else []
        ids = iter(put + [f"local-{n}" for n in range(len(put), len(valid))])
        results = [{"EventId": next(ids)} if error is None else error.result() for error in errors]
        failed = sum(error is not None for error in errors)
        return 200, {}, json.dumps({"FailedEntryCount": failed, "Entries": results})

    def _event_bus(self, name: str) -> None:
        """moto's own check that the bus exists (`ResourceNotFoundException`)."""
        try:
            events_backends[DEFAULT_ACCOUNT_ID][self.region].describe_event_bus(name)
        except JsonRESTError as exc:
            raise AwsError(exc.error_type, exc.message) from None

    def _iot_publish(self, match: re.Match[str], body: Any) -> Response:
        from urllib.parse import unquote

        topic = unquote(match.group("topic"))
        payload = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.iot_published.append((topic, payload))
        if self.on_iot_publish is not None:
            self.on_iot_publish(topic, payload)
        return 200, {}, "{}"

    def _ssm_send_command(self, match: re.Match[str], body: dict[str, Any]) -> Response:
        """Run Command, answered by the local SSM agent synchronously (the command has run
        when SendCommand returns; ListCommandInvocations then reports it)."""
        import uuid

        try:
            name = str(body.get("DocumentName", ""))
            found = self.ssm_document(name) if name != ssm_agent.DOCUMENT else None
            aws_validation.ssm_send_command(body, found)
            hosts = self.hosts.targets(body) if self.hosts is not None else None
        except AwsError as exc:
            return exc.status, {}, json.dumps(exc.body())
        if hosts is not None and self.hosts is not None:
            command = self.hosts.send(body, hosts)
            self.ssm_commands.append(command)
            return 200, {}, json.dumps({"Command": command})
        command_id = str(uuid.uuid4())
        commands = list(body.get("Parameters", {}).get("commands", []))
        targets = list(body.get("Targets", [])) + [
            {"Key": "InstanceIds", "Values": [i]} for i in body.get("InstanceIds", [])
        ]
        answers = (agent(targets, commands) for agent in self.ssm_agents)
        answer = next((a for a in answers if a is not None), None)
        if answer is None:
            # No managed instance matches: as in SSM, a command with no target and no
            # invocation (TargetCount 0), nothing run anywhere.
            self.ssm_invocations[command_id] = []
            return self._ssm_sent(body, command_id, "Success", targets=0)
        self.ssm_invocations[command_id] = [
            {
                "CommandId": command_id,
                "InstanceId": answer["InstanceId"],
                "DocumentName": body.get("DocumentName", ""),
                "Comment": body.get("Comment", ""),
                "Status": answer["Status"],
                "StatusDetails": answer["Status"],
                "CommandPlugins": [
                    {
                        "Name": "aws:runShellScript",
                        "Status": answer["Status"],
                        "Output": answer.get("Output", ""),
                    }
                ],
            }
        ]
        return self._ssm_sent(body, command_id, answer["Status"], targets=1)

    def _ssm_sent(
        self, body: dict[str, Any], command_id: str, status: str, targets: int
    ) -> Response:
        """SendCommand's answer for a command a legacy stand-in answered (or none did), kept
        for ListCommands."""
        command = {
            "CommandId": command_id,
            "DocumentName": body.get("DocumentName", ""),
            "Comment": body.get("Comment", ""),
            "Parameters": body.get("Parameters", {}),
            "Targets": body.get("Targets", []),
            "Status": status,
            "TargetCount": targets,
            "CompletedCount": targets,
            "RequestedDateTime": shared_clock.now().timestamp(),
        }
        self.ssm_commands.append(command)
        return 200, {}, json.dumps({"Command": command})

    def ssm_document(self, name: str) -> dict[str, Any] | None:
        """An account's Command document, as moto's SSM holds it (None: no such document)."""
        from moto.ssm.models import ssm_backends

        try:
            backend = ssm_backends[DEFAULT_ACCOUNT_ID][self.region]
            latest: Any = None  # moto's "no version asked": the default version
            doc = backend.get_document(name, latest, latest, "JSON")
        except Exception:  # moto raises its own InvalidDocument; any miss is "not there"
            return None
        content = doc.get("Content") if isinstance(doc, dict) else None
        return dict(json.loads(content)) if isinstance(content, str) else None

    def _ssm_list_commands(self, match: re.Match[str], body: dict[str, Any]) -> Response:
        """ListCommands as SSM answers it: newest first, `CommandId` or `Filters` (AWS's
        keys only, else `InvalidFilterKey`); the stand-in keeps every command it ran."""
        try:
            keep = aws_validation.ssm_command_filter(body.get("Filters", []))
        except AwsError as exc:
            return exc.status, {}, json.dumps(exc.body())
        wanted = body.get("CommandId")
        found = [
            c
            for c in reversed(self.ssm_commands)
            if (wanted is None or c["CommandId"] == wanted) and keep(c)
        ]
        return 200, {}, json.dumps({"Commands": found})

    def _ssm_list_invocations(self, match: re.Match[str], body: dict[str, Any]) -> Response:
        command_id = body.get("CommandId", "")
        if self.hosts is not None and command_id in self.hosts.invocations:
            found = self.hosts.listed(command_id, body.get("InstanceId"), bool(body.get("Details")))
        else:
            found = self.ssm_invocations.get(command_id, [])
        return 200, {}, json.dumps({"CommandInvocations": found})

    def _ssm_get_invocation(self, match: re.Match[str], body: dict[str, Any]) -> Response:
        try:
            if self.hosts is None:
                raise AwsError("InvocationDoesNotExist", "")
            got = self.hosts.get(str(body.get("CommandId", "")), str(body.get("InstanceId", "")))
        except AwsError as exc:
            return exc.status, {}, json.dumps(exc.body())
        return 200, {}, json.dumps(got)

    def _ssm_instance_tags(self, match: re.Match[str], body: dict[str, Any]) -> Response | None:
        """A managed instance's tags are its host's (moto knows no managed instance); any
        other resource's are moto's (None: declined)."""
        if body.get("ResourceType") != "ManagedInstance":
            return None
        host = self.hosts.hosts.get(str(body.get("ResourceId"))) if self.hosts else None
        if host is None:
            error = AwsError("InvalidResourceId", "Invalid Resource Id")
            return error.status, {}, json.dumps(error.body())
        if "Tags" in body:
            host.tags.update({str(t["Key"]): str(t["Value"]) for t in body["Tags"]})
            return 200, {}, "{}"
        if "TagKeys" in body:
            for key in body["TagKeys"]:
                host.tags.pop(str(key), None)
            return 200, {}, "{}"
        tags = [{"Key": k, "Value": v} for k, v in sorted(host.tags.items())]
        return 200, {}, json.dumps({"TagList": tags})

    def _ssm_describe_instances(self, match: re.Match[str], body: dict[str, Any]) -> Response:
        try:
            found = self.hosts.describe(body.get("Filters", [])) if self.hosts else []
        except AwsError as exc:
            return exc.status, {}, json.dumps(exc.body())
        return 200, {}, json.dumps({"InstanceInformationList": found})

    # -- Timestream for InfluxDB: UpdateDbInstance (moto 5.2 has none) ----------------------

    def _tsdb_backend(self) -> Any:
        return timestreaminfluxdb_backends[DEFAULT_ACCOUNT_ID][self.region]

    def _tsdb_settle(self, match: re.Match[str] | None, body: dict[str, Any]) -> None:
        """An update whose time has come is over: the new class/storage show, AVAILABLE
        again. moto then answers."""
        now = shared_clock.now()
        instances = self._tsdb_backend().db_instances
        for ident, (until, changes) in list(self.tsdb_updating.items()):
            if until <= now:
                if ident in instances:
                    got = instances[ident]
                    got.db_instance_type = changes.get("dbInstanceType", got.db_instance_type)
                    got.allocated_storage = changes.get("allocatedStorage", got.allocated_storage)
                    got.db_storage_type = changes.get("dbStorageType", got.db_storage_type)
                    got.deployment_type = changes.get("deploymentType", got.deployment_type)
                    got.port = changes.get("port", got.port)
                    got.status = "AVAILABLE"
                del self.tsdb_updating[ident]

    def _tsdb_update(self, match: re.Match[str] | None, body: dict[str, Any]) -> Response:
        """Same validation as AWS: the request's constraints (ValidationException), the
        instance must exist (ResourceNotFoundException) and be AVAILABLE
        (ConflictException); storage only grows. Like AWS, the instance reports
        UPDATING_INSTANCE_TYPE (a class change) or UPDATING for `TSDB_UPDATE_MINUTES` virtual
        minutes and keeps showing its old class/storage until the update is over."""
        self._tsdb_settle(match, body)
        try:
            aws_validation.timestream_update_db_instance(body, _tsdb_enums())
            instance = self._tsdb_backend().db_instances.get(body["identifier"])
            if instance is None:
                raise AwsError(
                    "ResourceNotFoundException",
                    f"DB Instance with id {body['identifier']} not found",
                    404,
                )
            if instance.status != "AVAILABLE":
                raise AwsError(
                    "ConflictException",
                    f"DB Instance {body['identifier']} is {instance.status}; it can be "
                    "updated only when AVAILABLE",
                    409,
                )
            storage = body.get("allocatedStorage")
            if storage is not None and storage < instance.allocated_storage:
                raise AwsError(
                    "ValidationException",
                    f"allocatedStorage can only be increased (now {instance.allocated_storage})",
                )
        except AwsError as exc:
            return exc.status, {}, json.dumps(exc.body())
        changing_class = body.get("dbInstanceType", instance.db_instance_type) != (
            instance.db_instance_type
        )
        instance.status = "UPDATING_INSTANCE_TYPE" if changing_class else "UPDATING"
        self.tsdb_updating[instance.id] = (
            shared_clock.now() + timedelta(minutes=TSDB_UPDATE_MINUTES),
            dict(body),
        )
        self.tsdb_updates.append(dict(body))
        return 200, {}, json.dumps(instance.to_dict(), default=str)

    def _stop_deployment(self, match: re.Match[str], body: dict[str, Any]) -> Response:
        backend = codedeploy_backends[DEFAULT_ACCOUNT_ID][self.region]
        deployment = backend.get_deployment(body["deploymentId"])
        deployment.status = "Stopped"
        self.codedeploy_stops.append(
            {
                "deploymentId": body["deploymentId"],
                "autoRollbackEnabled": bool(body.get("autoRollbackEnabled")),
            }
        )
        return 200, {}, json.dumps({"status": "Succeeded", "statusMessage": "stopped"})

    def put_composite_alarm(self, name: str, rule: str, description: str = "") -> None:
        """moto 5.2 answers PutCompositeAlarm with NotImplementedError; its backend keeps a
        composite as an alarm with a rule (DescribeAlarms lists it under CompositeAlarms)."""
        cloudwatch_backends[DEFAULT_ACCOUNT_ID][self.region].put_metric_alarm(
            name=name,
            namespace=None,  # type: ignore[arg-type]
            metric_name=None,  # type: ignore[arg-type]
            comparison_operator=None,  # type: ignore[arg-type]
            evaluation_periods=None,  # type: ignore[arg-type]
            period=None,  # type: ignore[arg-type]
            threshold=None,  # type: ignore[arg-type]
            statistic=None,  # type: ignore[arg-type]
            description=description,
            dimensions=[],
            alarm_actions=[],
            rule=rule,
        )

    def answer(self, target: str, body: dict[str, Any]) -> Response | None:
        """The answer to a JSON-protocol call (`X-Amz-Target`) these extensions take, for a
        front that is not boto3's (`selfheal serve`); None: moto's to answer."""
        for method, _, want, handler in self._routes():
            if method == "POST" and want == target:
                return handler(None, body)
        return None

    @contextmanager
    def installed(self) -> Iterator[Extensions]:
        original = BotocoreStubber.process_request
        routes = self._routes()

        def process_request(stubber: BotocoreStubber, request: Any) -> Any:
            url = request.url.split("?", 1)[0]
            target = request.headers.get("X-Amz-Target")
            target = target.decode() if isinstance(target, bytes) else target
            for method, pattern, want_target, handler in routes:
                match = pattern.match(url)
                if (
                    request.method == method
                    and match
                    and (want_target is None or want_target == target)
                ):
                    raw = request.body or b"{}"
                    if handler == self._iot_publish:
                        return handler(match, raw if isinstance(raw, bytes) else raw.encode())
                    body = json.loads(raw.decode() if isinstance(raw, bytes) else raw or "{}")
                    answer = handler(match, body)
                    if answer is not None:
                        return answer
                    break  # the extension declined: moto answers
            return original(stubber, request)

        original_stop = Execution.stop

        def stop(
            execution: Execution, stop_date: Any, error: str | None, cause: str | None
        ) -> None:
            # moto's StopExecution leaves an execution parked on a task token RUNNING
            # forever; AWS aborts it. Wake its callbacks so the interpreter sees the stop.
            original_stop(execution, stop_date, error, cause)
            worker = execution.exec_worker
            if worker is not None and worker.env is not None:
                for endpoint in list(worker.env.callback_pool_manager._pool.values()):
                    endpoint.interrupt_all()

        # Speed only: moto parses every JSONPath again (a new PLY parser each time) and builds
        # a boto3 client for every Lambda task; a 60-minute ladder makes hundreds of both.
        clients: dict[tuple[str, str, str], Any] = {}
        original_client = lambda_eval_utils.boto_client_for  # type: ignore[attr-defined]

        original_validate = StepFunctionsParserBackend._validate_definition

        def validate_definition(definition: str) -> None:
            # Every pipeline creates the same state machines; each parse costs ~0.2 s.
            if definition not in _VALID_DEFINITIONS:
                original_validate(definition)
                _VALID_DEFINITIONS.add(definition)

        def boto_client_for(region: str, service: str, state_credentials: Any = None) -> Any:
            # One client per region, service and the execution's role, whose calls
            # `on_state_client` may check (local/iam_enforcement.py)
            role = getattr(state_credentials, "role_arn", "") or ""
            key = (region, service, role)
            if key not in clients:
                if self.on_state_client is None:
                    made = original_client(region, service)
                else:
                    # Watched again by this pipeline's check, which replaces the last one's.
                    with _STATE_CLIENTS_LOCK:
                        made = _STATE_CLIENTS.get(key) or original_client(region, service)
                        _STATE_CLIENTS[key] = made
                    self.on_state_client(made, role)
                clients[key] = made
            return clients[key]

        with (
            atomic_dynamodb_writes(),
            strict_moto.step_functions(),
            strict_moto.lambda_versions(),
            mock.patch.object(BotocoreStubber, "process_request", process_request),
            mock.patch.object(Execution, "stop", stop),
            self.cloudtrail.recording(),
            mock.patch.object(
                json_path,
                "parse",
                functools.lru_cache(maxsize=4096)(json_path.parse),  # type: ignore[attr-defined]
            ),
            mock.patch.object(lambda_eval_utils, "boto_client_for", boto_client_for),
            mock.patch.object(
                StepFunctionsParserBackend,
                "_validate_definition",
                staticmethod(validate_definition),
            ),
            mock.patch.object(Subscription, "private_key", lambda _self: _sns_signing_key()),
        ):
            yield self
