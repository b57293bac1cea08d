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
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Literal

import paho.mqtt.client as mqtt
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from paho.mqtt.enums import CallbackAPIVersion
from selfheal_shared import clock as shared_clock

from .broker import KEEPALIVE_SECONDS, Broker

if TYPE_CHECKING:
    from .clock import VirtualClock

Failure = Literal["certificate_expired", "partition_bad", "hardware"] | None


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
    ) -> None:
        self.edge_id = edge_id
        self.broker = broker
        self.clock = clock
        self.restart_seconds = restart_seconds
        self.failure: Failure = failure
        self.with_agent = agent
        self.buffered_per_outage = buffered_per_outage
        self.commands: list[dict[str, Any]] = []
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

    # -- controller process -------------------------------------------------------------

    def _new_controller(self) -> mqtt.Client:
        c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=self.edge_id)
        c.will_set(f"lifo4/{self.edge_id}/status", json.dumps({"status": "offline"}), qos=1)
        c.on_connect = lambda *a: self.connected.set()
        c.on_disconnect = lambda *a: self.connected.clear()
        return c

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

    def _publish(self, client: mqtt.Client, topic: str, payload: str) -> None:
        self.broker.inflight.published(topic)
        client.publish(topic, payload, qos=1).wait_for_publish(30)

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
        a = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id)
        a.on_message = on_message
        ready = threading.Event()
        a.on_subscribe = lambda *args: ready.set()
        a.connect(self.broker.host, self.broker.port, keepalive=KEEPALIVE_SECONDS)
        a.subscribe(topic, qos=1)
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

    def _ack(self, cmd: dict[str, Any], result: str, detail: str = "") -> None:
        assert self._agent is not None
        body = {
            "commandId": cmd.get("commandId"),
            "command": cmd.get("command"),
            "result": result,
            "detail": detail,
        }
        self._publish(self._agent, f"lifo4/{self.edge_id}/commands/ack", json.dumps(body))

    def _on_command(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        name = msg.topic.rsplit("/", 1)[-1]
        if name == "ack" or self.failure == "hardware":  # its own ack; a dead box
            if name != "ack":
                self.commands.append(json.loads(msg.payload))
            self.broker.inflight.handled(self._agent_id, msg.topic)
            return
        cmd = json.loads(msg.payload)
        self.commands.append(cmd)
        threading.Thread(target=self._handle, args=(name, cmd, msg.topic), daemon=True).start()

    def _handle(self, name: str, cmd: dict[str, Any], topic: str) -> None:
        """Acknowledge, and restart when the command calls for it; the command counts as
        in flight until then, so virtual time waits for the answer."""
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
