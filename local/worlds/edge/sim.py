"""Simulated edge controllers on a real MQTT broker (paho-mqtt).

Each edge has two connections, as the real controller has two processes:
- the controller (`<edgeId>`): publishes status and telemetry, and sets a last will
  (`{"status": "offline"}` on `lifo4/<edgeId>/status`) at connect;
- the management agent (`<edgeId>-agent`): receives `lifo4/<edgeId>/commands/<cmd>`
  and acknowledges on `lifo4/<edgeId>/commands/ack`; it restarts the controller.

A third, the provisioning client (`<edgeId>-claim`), connects with the fleet's claim
certificate, not the edge's own: it is how an edge whose certificate expired gets a new
one. The edge generates the private key itself and sends only a CSR
(`lifo4/provision/<edgeId>-claim/csr`); the certificate comes back on
`.../certificate`. No private key ever travels over MQTT.

`failure` says what is wrong with it: None (the process hung: a restart fixes it),
"certificate_expired" (restarting fails until a certificate issued for its CSR arrives; the
CSR goes out once the agent sees the expiry, on a probe or a failed restart),
"partition_bad" (fails until an OTA rollback), "hardware" (nothing answers).

Every message is counted in the broker's `InFlight` ledger, so the virtual clock knows
what is still on its way. Given the pipeline's clock, a restart takes `restart_seconds`
of virtual time (a controller does not come back in the instant its command arrives).

Commands arrive at least once: the agent's subscriptions are persistent sessions (clean
session false, QoS 1), as on AWS IoT Core, so a command published while the agent is cut
off (a broker restart) is delivered once it reconnects, and a command whose PUBACK was lost
comes again. The agent acts on a command id once: it remembers the last ids it took
(`CommandLog`) and answers a duplicate (a QoS 1 redelivery, the same command published
again) with the acknowledgement it sent for the first copy, without acting again. Every
client reconnects by itself (paho's reconnect); the controller says it is online again
after a reconnect, since the broker sent its last will when the connection dropped.
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from collections import Counter, OrderedDict
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Literal

import paho.mqtt.client as mqtt
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from paho.mqtt.enums import CallbackAPIVersion
from selfheal_shared.core import clock as shared_clock

from local.world_api import KEEPALIVE_SECONDS, Broker, publish_qos1, reconnecting

if TYPE_CHECKING:
    from local.world_api import VirtualClock

Failure = Literal["certificate_expired", "partition_bad", "hardware"] | None

#: How many command ids an agent remembers (the last ones taken): far more than the
#: commands one edge gets while a copy of one can still be on its way.
COMMAND_MEMORY = 256


class _Taken:
    """A command id the agent took: the acknowledgement it sent, once it sent it."""

    __slots__ = ("ack", "answered")

    def __init__(self) -> None:
        self.ack: dict[str, Any] | None = None
        self.answered = threading.Event()


class CommandLog:
    """The ids of the last `size` commands an agent took, each with the acknowledgement it
    sent: the memory that makes a command act once however often it is delivered. Bounded:
    the oldest id is forgotten when a new one comes in over `size`."""

    def __init__(self, size: int = COMMAND_MEMORY) -> None:
        if size < 1:
            raise ValueError("an agent remembers at least one command id")
        self.size = size
        self._taken: OrderedDict[str, _Taken] = OrderedDict()
        self._lock = threading.Lock()

    def take(self, command_id: str) -> _Taken | None:
        """None the first time an id is seen (it is taken now); else what the first copy
        got (its acknowledgement may still be on its way: wait for `answered`)."""
        with self._lock:
            if (taken := self._taken.get(command_id)) is not None:
                return taken
            self._taken[command_id] = _Taken()
            while len(self._taken) > self.size:
                self._taken.popitem(last=False)
            return None

    def answered(self, command_id: str, ack: dict[str, Any] | None) -> None:
        """The first copy was acknowledged with `ack` (None: handled without an answer)."""
        with self._lock:
            taken = self._taken.get(command_id)
        if taken is not None and not taken.answered.is_set():
            taken.ack = ack
            taken.answered.set()

    def __contains__(self, command_id: object) -> bool:
        with self._lock:
            return command_id in self._taken

    def __len__(self) -> int:
        with self._lock:
            return len(self._taken)


class EdgeSim:
    def __init__(
        self,
        edge_id: str,
        broker: Broker,
        *,
        failure: Failure = None,
        agent: bool = True,
        buffered_per_outage: int = 0,
        clock: VirtualClock | None = None,
        restart_seconds: float = 20.0,
        command_memory: int = COMMAND_MEMORY,
    ) -> None:
        self.edge_id = edge_id
        self.broker = broker
        self.clock = clock
        self.restart_seconds = restart_seconds
        self.failure: Failure = failure
        self.with_agent = agent
        self.buffered_per_outage = buffered_per_outage
        #: Every command taken (the first copy of each command id), in order.
        self.commands: list[dict[str, Any]] = []
        #: The agent's memory of command ids (see `CommandLog`).
        self.command_log = CommandLog(command_memory)
        #: Times the agent acted on each command id (exactly once each, or a bug).
        self.actions: Counter[str] = Counter()
        #: Acknowledgements sent per command id (one per copy delivered).
        self.acks: Counter[str] = Counter()
        #: Command ids of the copies dropped as duplicates, in order.
        self.duplicates: list[str] = []
        #: Connections made per client id (the agent's, the claim's, the jobs'): 2 after
        #: one reconnect.
        self.connections: Counter[str] = Counter()
        #: Notified after every command taken, action, acknowledgement, connection of a
        #: subscribed client and restart (`wait_until`).
        self.changed = threading.Condition()
        #: Cell voltages (mV) sent with each telemetry; an equalize brings them together.
        self.cells_mv: list[int] | None = None
        self.equalize_seconds = 120.0
        #: Power flow (kW) and temperature (°C) the telemetry reports; a stop zeroes the power.
        self.power_kw = 12.5
        self.temperature_c: float | None = None
        self.restarts = 0
        self.connected = threading.Event()
        self._stopped = False
        self._controller: mqtt.Client | None = None
        self._agent: mqtt.Client | None = None
        self._claim: mqtt.Client | None = None
        #: The key the edge generated for its next certificate (never sent anywhere).
        self._pending_key: ec.EllipticCurvePrivateKey | None = None
        self.csrs_sent = 0
        #: PEM of the certificate the edge installed after a renewal.
        self.certificate_pem: str | None = None
        #: The firmware the controller runs and reports in its status; an OTA job changes it.
        self.firmware_version = "1.1.0"
        #: An OTA install fails on this edge (the job execution reports FAILED).
        self.ota_fails = False
        #: The agent starts an OTA job and never reports its end (IoT Jobs times it out).
        self.ota_hangs = False
        #: Not a multiple of the workflow's 60 s poll: a poll never races an install.
        self.ota_install_seconds = 45.0
        self._jobs: mqtt.Client | None = None
        #: The IoT jobs the agent started: a job notified again is not installed again.
        self._jobs_taken = CommandLog(command_memory)

    # -- controller process -------------------------------------------------------------

    def _new_controller(self) -> mqtt.Client:
        c = reconnecting(mqtt.Client(CallbackAPIVersion.VERSION2, client_id=self.edge_id))
        c.will_set(f"lifo4/{self.edge_id}/status", json.dumps({"status": "offline"}), qos=1)
        c.on_connect = self._controller_connected
        c.on_disconnect = self._controller_disconnected
        return c

    def _controller_disconnected(self, client: mqtt.Client, *args: Any) -> None:
        """Only the running controller's disconnect says the edge is off: a killed one's
        network thread may report its own end after the restarted one has connected."""
        if client is self._controller:
            self.connected.clear()

    def _controller_connected(self, client: mqtt.Client, *args: Any) -> None:
        """Connected; after a reconnect (the broker restarted and sent its last will), it
        says it is online again, as the firmware does on every connect. From paho's network
        thread: published without waiting for the PUBACK (that thread reads it)."""
        if client is self._controller and not self._stopped:
            topic = f"lifo4/{self.edge_id}/status"
            body = {"status": "online", "firmwareVersion": self.firmware_version}
            self.broker.inflight.published(topic)
            client.publish(topic, json.dumps(body), qos=1)
        self.connected.set()

    def start(self, buffered: int = 0) -> EdgeSim:
        if self.with_agent and self._agent is None:
            self._start_agent()
        c = self._new_controller()
        c.connect(self.broker.host, self.broker.port, keepalive=KEEPALIVE_SECONDS)
        c.loop_start()
        if not self.connected.wait(30):
            raise TimeoutError(f"{self.edge_id} could not connect to the broker")
        self._controller = c
        self.publish_status(
            "online", bufferedSamples=buffered, firmwareVersion=self.firmware_version
        )
        self.publish_telemetry()
        return self

    def start_agent(self) -> EdgeSim:
        """Only the management agent (and the edge's other helper clients) connects: the
        controller process is hung, never connected; a restart command brings it up."""
        if self._agent is None:
            self._start_agent()
        return self

    def _publish(self, client: mqtt.Client, topic: str, payload: str) -> None:
        self.broker.inflight.published(topic)
        publish_qos1(client, topic, payload, timeout=30)

    def publish_status(self, status: str, **extra: Any) -> None:
        assert self._controller is not None
        self._publish(
            self._controller,
            f"lifo4/{self.edge_id}/status",
            json.dumps({"status": status, **extra}),
        )

    def publish_telemetry(self, soc: float = 64.0, power_kw: float | None = None) -> None:
        assert self._controller is not None
        ts = shared_clock.now().timestamp()  # the pipeline's clock when one is installed
        power = self.power_kw if power_kw is None else power_kw
        body: dict[str, Any] = {"ts": ts, "soc": soc, "powerKw": power}
        if self.temperature_c is not None:
            body["temperatureC"] = self.temperature_c
        if self.cells_mv:
            body["cellsMv"] = self.cells_mv
        self._publish(self._controller, f"lifo4/{self.edge_id}/telemetry", json.dumps(body))

    def raise_alarm(self, alarm: str, state: str = "active", reason: str = "") -> None:
        """The controller reports a battery alarm on `lifo4/<edgeId>/alarms`."""
        assert self._controller is not None
        body = {"alarm": alarm, "state": state, "ts": shared_clock.now().timestamp()}
        self._publish(
            self._controller,
            f"lifo4/{self.edge_id}/alarms",
            json.dumps({**body, "reason": reason}),
        )

    def _stopped_power(self) -> None:
        self.power_kw = 0.0
        if self._controller is not None and not self._stopped:
            self.publish_telemetry()

    def _equalized(self) -> None:
        """Balancing done: every cell within a few mV of the lowest; the next telemetry says so."""
        if self.cells_mv and not self._stopped:
            low = min(self.cells_mv)
            self.cells_mv = [low + (v - low) // 10 for v in self.cells_mv]
            if self._controller is not None:
                self.publish_telemetry()

    def kill(self) -> None:
        """The controller dies without a clean DISCONNECT: the broker sends its last will."""
        c = self._controller
        if c is None:
            return
        # Tell paho's network thread to end instead of reconnecting, then cut the socket;
        # the thread exits by itself (joining it would take up to a second per edge).
        c._thread_terminate = True
        sock = c.socket()
        if sock is not None:
            self.broker.inflight.published(f"lifo4/{self.edge_id}/status")  # the last will
            with contextlib.suppress(OSError):
                # the FIN now, even while paho's select holds it (a plain socket here)
                sock.shutdown(socket.SHUT_RDWR)  # type: ignore[attr-defined]
            sock.close()
        self.connected.clear()
        self._controller = None

    def go_autonomous(self) -> None:
        """The site loses internet: the edge says so, then drops off (by design)."""
        self.publish_status("autonomous", reason="site internet down; running on cached config")
        self.kill()

    def stop(self) -> None:
        self._stopped = True
        for c in (self._controller, self._agent, self._claim, self._jobs):
            if c is not None:
                c.disconnect()  # first: the network loop then ends at once
                c.loop_stop()
        self._controller = self._agent = self._claim = self._jobs = None
        self.broker.inflight.gone(self._agent_id)
        self.broker.inflight.gone(self._claim_id)
        self.broker.inflight.gone(self._jobs_id)

    # -- management agent ---------------------------------------------------------------

    @property
    def _agent_id(self) -> str:
        return f"{self.edge_id}-agent"

    def _subscribed_client(
        self, client_id: str, topic: str, on_message: Callable[..., None]
    ) -> mqtt.Client:
        """A persistent session (clean session false) subscribed at QoS 1: what is published
        to it while it is disconnected waits for it at the broker. Subscribes on its first
        connect, and again after a reconnect only if the broker lost the session."""
        a = reconnecting(
            mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=False)
        )
        a.on_message = on_message
        ready = threading.Event()
        a.on_subscribe = lambda *args: ready.set()

        def on_connect(client: mqtt.Client, userdata: Any, flags: Any, *rest: Any) -> None:
            if not ready.is_set() or not flags.session_present:
                client.subscribe(topic, qos=1)
            self._noted(self.connections, client_id)

        a.on_connect = on_connect
        a.connect(self.broker.host, self.broker.port, keepalive=KEEPALIVE_SECONDS)
        a.loop_start()
        if not ready.wait(30):
            raise TimeoutError(f"{client_id} could not subscribe to {topic}")
        self.broker.inflight.subscribed(client_id, topic)
        return a

    def _start_agent(self) -> None:
        self._agent = self._subscribed_client(
            self._agent_id, f"lifo4/{self.edge_id}/commands/+", self._on_command
        )
        self._claim = self._subscribed_client(
            self._claim_id, f"lifo4/provision/{self._claim_id}/certificate", self._on_certificate
        )
        self._jobs = self._subscribed_client(
            self._jobs_id, f"$aws/things/{self.edge_id}/jobs/notify-next", self._on_job
        )

    # -- AWS IoT Jobs (the agent's OTA side) --------------------------------------------

    @property
    def _jobs_id(self) -> str:
        return f"{self.edge_id}-agent-jobs"

    def _job_update(self, job_id: str, status: str, **details: str) -> None:
        assert self._jobs is not None
        body = {"status": status, "statusDetails": details}
        self._publish(
            self._jobs, f"$aws/things/{self.edge_id}/jobs/{job_id}/update", json.dumps(body)
        )

    def _on_job(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        payload = bytes(msg.payload)
        threading.Thread(target=self._start_job, args=(payload, msg.topic), daemon=True).start()

    def _start_job(self, payload: bytes, topic: str) -> None:
        """A NextNotification: start the job (IN_PROGRESS), install over
        `ota_install_seconds` of virtual time, then report the new version in the status
        and the result to the job (the result after the report, as after a reboot). The
        notification counts as in flight until the job is started."""
        try:
            execution = json.loads(payload).get("execution")
            doc = (execution or {}).get("jobDocument") or {}
            if execution and doc.get("operation") == "ota" and self.failure != "hardware":
                job_id, version = str(execution["jobId"]), str(doc["version"])
                if self._jobs_taken.take(job_id) is not None:
                    self.duplicates.append(job_id)  # notified again: installing already
                    self._noted()
                    return
                self.commands.append({"command": "ota", "jobId": job_id, "version": version})
                self._job_update(job_id, "IN_PROGRESS", step="downloading")
                if self.ota_hangs:
                    return
                if self.clock is None:
                    self._installed(job_id, version)
                else:
                    self.clock.call_later(
                        self.ota_install_seconds, lambda: self._installed(job_id, version)
                    )
        finally:
            self.broker.inflight.handled(self._jobs_id, topic)

    def _installed(self, job_id: str, version: str) -> None:
        if self._stopped or self._jobs is None:
            return
        if self.ota_fails:
            self._job_update(
                job_id, "FAILED", reason="image verification failed", version=self.firmware_version
            )
            return
        self.firmware_version = version
        if self._controller is not None:
            self.publish_status("online", firmwareVersion=version)
        self._job_update(job_id, "SUCCEEDED", version=version)

    # -- provisioning client (claim certificate) ----------------------------------------

    @property
    def _claim_id(self) -> str:
        return f"{self.edge_id}-claim"

    def drop_claim_connection(self) -> None:
        """The provisioning client is down (or the claim certificate was revoked)."""
        if self._claim is not None:
            self._claim.disconnect()
            self._claim.loop_stop()
            self._claim = None
        self.broker.inflight.gone(self._claim_id)

    def _request_certificate(self) -> None:
        """A new key, kept here; its CSR goes out over the claim connection."""
        if self._claim is None:
            return  # nobody to send it
        key = ec.generate_private_key(ec.SECP256R1())
        csr = (
            x509.CertificateSigningRequestBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, self.edge_id)]))
            .sign(key, hashes.SHA256())
        )
        self._pending_key = key
        self.csrs_sent += 1
        body = {"csr": csr.public_bytes(serialization.Encoding.PEM).decode()}
        self._publish(self._claim, f"lifo4/provision/{self._claim_id}/csr", json.dumps(body))

    def _on_certificate(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        try:
            body = json.loads(msg.payload)
            if "privateKey" in body or "PrivateKey" in body:
                raise AssertionError("a private key arrived over MQTT")
            cert = x509.load_pem_x509_certificate(str(body["certificatePem"]).encode())
            cn = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value
            if self._pending_key is not None and cn == self.edge_id:
                self.certificate_pem = body["certificatePem"]
                self._pending_key = None
                if self.failure == "certificate_expired":
                    self.failure = None
                self._restart_later()
        finally:
            self.broker.inflight.handled(self._claim_id, msg.topic)

    def wait_until(self, done: Callable[[], bool], timeout: float) -> bool:
        """Until `done()` holds, checked after each command taken or dropped, action,
        acknowledgement, connection of the agent's clients and restart. False on timeout."""
        deadline = time.monotonic() + timeout
        with self.changed:
            while not done():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self.changed.wait(remaining)
            return True

    def _noted(self, counter: Counter[str] | None = None, key: str = "") -> None:
        with self.changed:
            if counter is not None:
                counter[key] += 1
            self.changed.notify_all()

    def _send_ack(self, body: dict[str, Any]) -> None:
        assert self._agent is not None
        self._publish(self._agent, f"lifo4/{self.edge_id}/commands/ack", json.dumps(body))
        self._noted(self.acks, str(body.get("commandId")))

    def _ack(self, cmd: dict[str, Any], result: str, detail: str = "") -> None:
        body = {
            "commandId": cmd.get("commandId"),
            "command": cmd.get("command"),
            "result": result,
            "detail": detail,
        }
        if isinstance(body["commandId"], str):
            self.command_log.answered(body["commandId"], body)
        self._send_ack(body)

    def _on_command(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        """From paho's network thread, one message at a time: taking a command id here
        cannot race a second copy of it."""
        name = msg.topic.rsplit("/", 1)[-1]
        if name == "ack":  # its own acknowledgement
            self.broker.inflight.handled(self._agent_id, msg.topic)
            return
        cmd = json.loads(msg.payload)
        command_id = cmd.get("commandId")
        first = None if not isinstance(command_id, str) else self.command_log.take(command_id)
        if first is not None:
            assert isinstance(command_id, str)
            self.duplicates.append(command_id)
            self._noted()
            # A copy the broker delivers again (DUP set) after its first delivery was
            # counted and handled is not a message of its own in the ledger.
            counted = not msg.dup
            if self.failure == "hardware":  # a dead box answers no copy
                if counted:
                    self.broker.inflight.handled(self._agent_id, msg.topic)
                return
            threading.Thread(
                target=self._answer_again, args=(first, msg.topic, counted), daemon=True
            ).start()
            return
        self.commands.append(cmd)
        self._noted()
        if self.failure == "hardware":  # a dead box: nothing acts, nothing answers
            self.broker.inflight.handled(self._agent_id, msg.topic)
            return
        threading.Thread(target=self._handle, args=(name, cmd, msg.topic), daemon=True).start()

    def _answer_again(self, first: _Taken, topic: str, counted: bool) -> None:
        """A duplicate: not acted on; acknowledged with what the first copy was answered
        (once it was), so the cloud sees the acknowledgement whichever copy it waits on."""
        try:
            if first.answered.wait(30) and first.ack is not None and self._agent is not None:
                self._send_ack(first.ack)
        finally:
            if counted:
                self.broker.inflight.handled(self._agent_id, topic)

    def _handle(self, name: str, cmd: dict[str, Any], topic: str) -> None:
        """Acknowledge, and restart when the command calls for it; the command counts as
        in flight until then, so virtual time waits for the answer."""
        self._noted(self.actions, str(cmd.get("commandId")))
        command_id = cmd.get("commandId")
        try:
            if name == "restart":
                if self.failure == "certificate_expired":
                    self._ack(cmd, "error", "certificate_expired")
                    self._request_certificate()
                elif self.failure == "partition_bad":
                    self._ack(cmd, "error", "partition_bad")
                else:
                    self._ack(cmd, "ok")
                    self._restart_later()
            elif name == "ota-rollback":
                if self.failure == "partition_bad":
                    self.failure = None
                self._ack(cmd, "ok")
                self._restart_later()
            elif name == "reset-emergency-stop":
                self._ack(cmd, "ok")
                if self._controller is not None:
                    self.raise_alarm("EMERGENCY_STOP", "cleared", reason="reset")
            elif name == "stop":
                self._ack(cmd, "ok")
                if self.clock is None:
                    self._stopped_power()
                else:  # the inverter ramps down over a few seconds
                    self.clock.call_later(5, self._stopped_power)
            elif name == "equalize":
                self._ack(cmd, "ok")
                if self.clock is None:
                    self._equalized()
                else:
                    self.clock.call_later(self.equalize_seconds, self._equalized)
            elif name == "probe":
                # The agent reports what it can see of the controller (diagnosis evidence).
                known = ("certificate_expired", "partition_bad")
                self._ack(cmd, "ok", self.failure if self.failure in known else "")
                if self.failure == "certificate_expired":
                    # The agent sees the controller's TLS handshake refused: the edge's
                    # provisioning client asks for a new certificate on its own.
                    self._request_certificate()
        finally:
            if isinstance(command_id, str):  # a command it does not know: no answer
                self.command_log.answered(command_id, None)
            self.broker.inflight.handled(self._agent_id, topic)

    def _restart_later(self) -> None:
        if self.clock is None:
            self._restart()
        else:
            self.clock.call_later(self.restart_seconds, self._restart)

    def _restart(self) -> None:
        if self.failure is not None or self._stopped:
            return  # still broken: the controller cannot come up
        self.kill()
        # Reconnect only once the broker has sent the old connection's last will: a new
        # connection with the same client id taking over first would make mosquitto drop it.
        if not self.broker.inflight.wait_delivered(f"lifo4/{self.edge_id}/status", 30):
            raise TimeoutError(f"{self.edge_id}: the broker never sent the last will")
        self.restarts += 1
        self.start(buffered=self.buffered_per_outage)
        self._noted()


def keep_reporting(
    clock: Any,
    sim: EdgeSim,
    *,
    seconds: float,
    every: float = 20.0,
    start: float = 0.0,
    before: Callable[[float], None] | None = None,
) -> None:
    """`sim` sends its telemetry every `every` virtual seconds for `seconds` from `start` on,
    as a live edge does (runbook 000 §1: "> 30s sem dados" is offline, so an edge reports at
    least every 30 s, and a decision trusts no older reading); `before(t)` changes what it
    reports at second t. Scheduled on the virtual clock (`call_later`)."""
    for n in range(1, int(seconds // every) + 1):
        at = start + every * n

        def report(t: float = at) -> None:
            if before is not None:
                before(t)
            if sim.connected.is_set():  # not once the edge was stopped or killed
                sim.publish_telemetry()

        clock.call_later(at, report)
