"""A local AWS IoT Jobs data plane over the real broker: moto stores a job (targets,
`jobExecutionsRolloutConfig`, `abortConfig`) but runs nothing, so this plays the service.

Like IoT Jobs it notifies each target on `$aws/things/{thing}/jobs/notify-next` (a
`NextNotification` with the job document), at most `maximumPerMinute` per virtual minute;
takes the devices' `$aws/things/{thing}/jobs/{jobId}/update` (`IN_PROGRESS`, then
`SUCCEEDED`/`FAILED` with `statusDetails`) into moto's job executions; and applies the
abort criteria: once `minNumberOfExecutedThings` have finished and the failed share reaches
`thresholdPercentage`, the job is CANCELED and its executions not yet started with it.
Executions already in progress finish (a cancel without `force`). A job whose executions
all ended is COMPLETED. Time is the pipeline's virtual clock; messages are counted in the
broker's in-flight ledger, so the scheduler never jumps past them.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from unittest import mock

import paho.mqtt.client as mqtt
from moto.core.models import DEFAULT_ACCOUNT_ID
from moto.iot.models import FakeJob, IoTBackend, iot_backends
from paho.mqtt.enums import CallbackAPIVersion

from .broker import KEEPALIVE_SECONDS, Broker, reconnecting

if TYPE_CHECKING:
    from .host import Pipeline

CLIENT_ID = "selfheal-iot-jobs"
UPDATES = "$aws/things/+/jobs/+/update"
TERMINAL = frozenset({"SUCCEEDED", "FAILED", "CANCELED", "TIMED_OUT", "REJECTED", "REMOVED"})


def notify_topic(thing: str) -> str:
    return f"$aws/things/{thing}/jobs/notify-next"


@dataclass
class _Rollout:
    job_id: str
    queue: list[str]  # things not yet notified, in target order
    per_minute: int
    criteria: list[dict[str, Any]]
    notified: list[str] = field(default_factory=list)


class JobsPlane:
    def __init__(self, pipeline: Pipeline, broker: Broker) -> None:
        self.pipeline = pipeline
        self.broker = broker
        self._rollouts: dict[str, _Rollout] = {}
        self._lock = threading.RLock()
        # A durable session, as the service's own: a broker restart loses no device update.
        self._client = reconnecting(
            mqtt.Client(CallbackAPIVersion.VERSION2, client_id=CLIENT_ID, clean_session=False)
        )
        self._client.on_message = self._on_update
        self._client.on_connect = self._on_connect
        self._subscribed = False
        self._patch = mock.patch.object(IoTBackend, "create_job", self._wrap(IoTBackend.create_job))
        #: (jobId, thing) notified, in order, with the virtual time: what tests read.
        self.notifications: list[tuple[str, str, str]] = []

    @property
    def backend(self) -> IoTBackend:
        return iot_backends[DEFAULT_ACCOUNT_ID][self.pipeline.extensions.region]

    def start(self, timeout: float = 30.0) -> JobsPlane:
        ready = threading.Event()
        self._client.on_subscribe = lambda *a: ready.set()
        self._client.connect(self.broker.host, self.broker.port, keepalive=KEEPALIVE_SECONDS)
        self._client.subscribe(UPDATES, qos=1)
        self._client.loop_start()
        if not ready.wait(timeout):
            raise TimeoutError(f"the broker did not acknowledge {UPDATES}")
        self._subscribed = True
        self.broker.inflight.subscribed(CLIENT_ID, UPDATES)
        self._patch.start()
        return self

    def _on_connect(self, client: mqtt.Client, userdata: Any, flags: Any, *rest: Any) -> None:
        """A reconnect finds its session (persistence on); subscribe again only if lost."""
        if self._subscribed and not flags.session_present:
            client.subscribe(UPDATES, qos=1)

    def stop(self) -> None:
        self._patch.stop()
        self.broker.inflight.gone(CLIENT_ID)
        self._client.disconnect()
        self._client.loop_stop()

    # -- the control plane's side: a job was created ----------------------------------------

    def _wrap(self, original: Any) -> Any:
        plane = self

        def create_job(backend: IoTBackend, *args: Any, **kwargs: Any) -> Any:
            out = original(backend, *args, **kwargs)
            plane._created(backend.jobs[kwargs.get("job_id") or args[0]])
            return out

        return create_job

    def _created(self, job: FakeJob) -> None:
        things = [arn.rsplit("/", 1)[-1] for arn in job.targets]
        rate = int((job.job_executions_rollout_config or {}).get("maximumPerMinute") or 1000)
        criteria = list((job.abort_config or {}).get("criteriaList") or [])
        with self._lock:
            job.status = "IN_PROGRESS"
            self._rollouts[job.job_id] = _Rollout(job.job_id, things, rate, criteria)
            self._counts(job)
        self._notify_batch(job.job_id)

    def _notify_batch(self, job_id: str) -> None:
        """Notify the next `maximumPerMinute` targets; the rest a virtual minute later."""
        with self._lock:
            rollout = self._rollouts[job_id]
            job = self.backend.jobs[job_id]
            if job.status != "IN_PROGRESS":
                return
            batch, rollout.queue = (
                rollout.queue[: rollout.per_minute],
                rollout.queue[rollout.per_minute :],
            )
            rollout.notified += batch
            more = bool(rollout.queue)
        for thing in batch:
            self._publish_next(job, thing)
        if more:
            self.pipeline.clock.call_later(60, lambda: self._notify_batch(job_id))

    def _publish_next(self, job: FakeJob, thing: str) -> None:
        now = self.pipeline.clock.now()
        execution = self.backend.job_executions[(job.job_id, thing)]
        body = {
            "timestamp": int(now.timestamp()),
            "execution": {
                "jobId": job.job_id,
                "thingName": thing,
                "status": execution.status,
                "queuedAt": int(now.timestamp()),
                "lastUpdatedAt": int(now.timestamp()),
                "versionNumber": 1,
                "executionNumber": 1,
                "jobDocument": json.loads(job.document),
            },
        }
        self.notifications.append((job.job_id, thing, now.isoformat()))
        topic = notify_topic(thing)
        self.broker.inflight.published(topic)
        self._client.publish(topic, json.dumps(body), qos=1)

    # -- the devices' side: an execution update ---------------------------------------------

    def _on_update(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        try:
            _, _, thing, _, job_id, _ = msg.topic.split("/")
            body = json.loads(msg.payload)
            self._update(
                job_id, thing, str(body.get("status", "")), body.get("statusDetails") or {}
            )
        except (ValueError, KeyError) as exc:  # the service answers .../update/rejected
            self.pipeline.log("iot", f"job update on {msg.topic} rejected: {exc}")
        finally:
            self.broker.inflight.handled(CLIENT_ID, msg.topic)

    def _update(self, job_id: str, thing: str, status: str, details: dict[str, Any]) -> None:
        with self._lock:
            job = self.backend.jobs[job_id]
            execution = self.backend.job_executions[(job_id, thing)]
            if execution.status in TERMINAL or status not in ("IN_PROGRESS", *TERMINAL):
                return
            started = status == "IN_PROGRESS" and execution.status != "IN_PROGRESS"
            execution.status = status
            execution.status_details_map = {k: str(v) for k, v in details.items()}
            execution.last_updated_at = self.pipeline.clock.now()
            self._counts(job)
            if status in TERMINAL:
                self._apply_abort(job)
                self._maybe_complete(job)
        minutes = (job.timeout_config or {}).get("inProgressTimeoutInMinutes")
        if started and minutes:
            # `timeoutConfig`: an execution still IN_PROGRESS after it is TIMED_OUT.
            self.pipeline.clock.call_later(
                float(minutes) * 60, lambda: self._timed_out(job_id, thing)
            )

    def _timed_out(self, job_id: str, thing: str) -> None:
        with self._lock:
            job = self.backend.jobs[job_id]
            execution = self.backend.job_executions[(job_id, thing)]
            if execution.status != "IN_PROGRESS":
                return
            execution.status = "TIMED_OUT"
            execution.last_updated_at = self.pipeline.clock.now()
            self._counts(job)
            self._apply_abort(job)
            self._maybe_complete(job)
        self.pipeline.log("iot", f"IoT job {job_id}: {thing} TIMED_OUT (in progress too long)")

    def _apply_abort(self, job: FakeJob) -> None:
        if job.status != "IN_PROGRESS":
            return
        statuses = self._statuses(job)
        done = [s for s in statuses if s in TERMINAL]
        for c in self._rollouts[job.job_id].criteria:
            failed = [s for s in done if c.get("failureType") in (s, "ALL")]
            if len(done) < int(c.get("minNumberOfExecutedThings", 1)):
                continue
            share = 100.0 * len(failed) / len(done)
            if share >= float(c["thresholdPercentage"]):
                job.status = "CANCELED"
                job.reason_code = "abort-criteria"
                job.comment = (
                    f"abort criteria met: {len(failed)} of {len(done)} executions "
                    f"{c['failureType']} ({share:.0f} % >= {float(c['thresholdPercentage']):g} %)"
                )
                for (jid, _), ex in self.backend.job_executions.items():
                    if jid == job.job_id and ex.status == "QUEUED":
                        ex.status = "CANCELED"
                self._rollouts[job.job_id].queue.clear()
                self._counts(job)
                self.pipeline.log("iot", f"IoT job {job.job_id} aborted: {job.comment}")
                return

    def _maybe_complete(self, job: FakeJob) -> None:
        if job.status == "IN_PROGRESS" and all(s in TERMINAL for s in self._statuses(job)):
            job.status = "COMPLETED"
            job.completed_at = self.pipeline.clock.now()  # type: ignore[assignment]

    def _statuses(self, job: FakeJob) -> list[str]:
        return [
            ex.status for (jid, _), ex in self.backend.job_executions.items() if jid == job.job_id
        ]

    def _counts(self, job: FakeJob) -> None:
        statuses = self._statuses(job)
        names = {
            "QUEUED": "numberOfQueuedThings",
            "IN_PROGRESS": "numberOfInProgressThings",
            "SUCCEEDED": "numberOfSucceededThings",
            "FAILED": "numberOfFailedThings",
            "CANCELED": "numberOfCanceledThings",
            "REJECTED": "numberOfRejectedThings",
            "TIMED_OUT": "numberOfTimedOutThings",
        }
        for status, key in names.items():
            job.job_process_details[key] = statuses.count(status)
        job.last_updated_at = self.pipeline.clock.now()
