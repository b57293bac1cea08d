"""The Aupus site the service workflows meet (runbook 004 "Sem Dados MQTT" and "Dados
Parciais"): the primary VPS `aupus-vps` running `aupus-api` under its pm2 (the ingestion
world's real host), the real mosquitto its equipment publishes to, and its PostgreSQL
database. The three described services `aupus-ingestion`, `mqtt-broker` and `aupus-db` are
checked on `aupus-vps` with the runbook's commands; this class only makes their faults
real:

- `aupus-ingestion` stopped (`pm2 stop`), frozen (SIGSTOP), gone from pm2, or unable to
  start again because another process took its port (its restarts crash: "Address already
  in use");
- stale: it started while its database refused connections, so it loaded no topic
  ("Carregando 0 tópicos") and saves nothing until `pm2 restart aupus-api` loads them again;
- topics lost: equipment registered after it started, so it does not subscribe to them
  until its next restart ("Recarregar tópicos MQTT");
- equipment offline: registered and subscribed, publishing nothing;
- `mqtt-broker` stopped, `aupus-db` refusing connections.

Each equipment online publishes a reading every `EVERY` seconds in real time for as long
as the site runs."""

from __future__ import annotations

import contextlib
import socket
import threading
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from local.world_api import Broker, Pipeline, mosquitto
from local.worlds.ingestion import AupusDeployment, AupusHost

#: The equipment registered at the site (one MQTT topic each).
EQUIPMENT = ("inv-01", "inv-02", "inv-03", "meter-01")
HOST = "aupus-vps"
INSTANCE_ID = "production-server"
#: Seconds between two readings of one equipment.
EVERY = 0.2


@dataclass
class AupusSite:
    pipeline: Pipeline
    stack: ExitStack = field(default_factory=ExitStack)
    broker: Broker | None = None
    deployment: AupusDeployment | None = None
    vps: AupusHost | None = None
    #: Equipment not registered when the backend starts (its topics "lost"), and offline.
    late: list[str] = field(default_factory=list)
    offline: list[str] = field(default_factory=list)
    #: Another process's socket on the backend's port, once the backend is down.
    squatter: socket.socket | None = None
    broken: bool = False
    feeds: list[Any] = field(default_factory=list)

    def _deployment(self) -> AupusDeployment:
        if self.deployment is None:
            self.broker = self.stack.enter_context(mosquitto())
            self.deployment = AupusDeployment.create(self.pipeline, self.broker)
            self.stack.callback(self.deployment.close)
            self.deployment.database.migrate(())  # the schema, before anything is seeded
        return self.deployment

    # -- before the start ----------------------------------------------------------------

    def seed(self, hours_ago: float) -> None:
        """What the backend had saved before it went quiet: one reading of each equipment,
        `hours_ago` old."""
        deployment = self._deployment()
        at = datetime.now(UTC) - timedelta(hours=hours_ago)
        deployment.database.insert(
            [(eq, at, {"potencia": 10.0}, INSTANCE_ID, at) for eq in EQUIPMENT]
        )

    def lose_topics(self, equipment: list[str]) -> None:
        self.late = list(equipment)

    def equipment_offline(self, equipment: list[str]) -> None:
        self.offline = list(equipment)

    # -- running ---------------------------------------------------------------------------

    def start(self, stale: bool = False) -> AupusHost:
        """The VPS built and `aupus-api` started, ready, then the equipment publishing."""
        deployment = self._deployment()
        known = tuple(e for e in EQUIPMENT if e not in self.late)
        vps = deployment.host(HOST, "production", start=False, equipment=known)
        self.vps = vps
        if stale:
            deployment.database.refuse_connections()
            mark = vps.mark()
            vps.start(mqtt=False)
            vps.wait_log("tópicos não carregados do banco", mark)
            deployment.database.refuse_connections(False)
        else:
            vps.start()
        deployment.database.register(EQUIPMENT)
        sending = [eq for eq in EQUIPMENT if eq not in self.offline]
        for eq in sending:
            self.feeds.append(self.stack.enter_context(deployment.feed(eq, EVERY)))
        if not stale and any(eq not in self.late for eq in sending):
            deployment.next_row()  # data arriving before anyone looks: a healthy site
        return vps

    def kill(self, service: str) -> None:
        """The service down: the backend stopped (`pm2 stop`, it stays down), the broker
        stopped, the database refusing connections."""
        if service == "mqtt-broker":
            assert self.broker is not None
            # The equipment cannot publish without it: their feeds end first (a feed left
            # waiting for a broker's acknowledgement would hold the site's close).
            for feed in self.feeds:
                feed.close()
            self.broker.stop()
        elif service == "aupus-db":
            self._deployment().database.refuse_connections()
        else:
            self._vps().stop()
            if self.broken:
                self._squat()

    def freeze(self, service: str) -> None:
        self._vps().freeze()

    def remove(self, service: str) -> None:
        """Gone from pm2: `pm2 restart aupus-api` fails."""
        self._vps().pm2("delete", "aupus-api")

    def break_config(self, service: str, reason: str) -> None:
        """Once the backend is down, another process listens on its port: every restart
        crashes ("Address already in use", in its logs) until people free the port."""
        self.broken = True
        if self._vps().status() != "online":
            self._squat()

    def _squat(self) -> None:
        """The other process: it holds the port, accepts each connection and closes it at
        once (curl: "Empty reply from server"), answering nothing."""
        if self.squatter is None:
            squatter = socket.socket()
            # Past the stopped backend's connections in TIME_WAIT (as a server's bind is).
            squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            squatter.bind(("127.0.0.1", self._vps().port))
            squatter.listen()
            self.squatter = squatter

            def hang_up() -> None:
                with contextlib.suppress(OSError):  # closed by fix_config / close
                    while True:
                        conn, _ = squatter.accept()
                        conn.close()

            threading.Thread(target=hang_up, name="aupus-port-squatter", daemon=True).start()

    def fix_config(self) -> None:
        """What people do after the page: the port freed, `pm2 restart aupus-api`."""
        self.broken = False
        self._unsquat()
        self._vps().restart()

    def _unsquat(self) -> None:
        if self.squatter is not None:
            with contextlib.suppress(OSError):
                self.squatter.shutdown(socket.SHUT_RDWR)  # wakes its accept()
            self.squatter.close()
            self.squatter = None

    def _vps(self) -> AupusHost:
        assert self.vps is not None, "start() first"
        return self.vps

    def restarts(self, script: str) -> bool:
        return "pm2 restart aupus-api" in script.splitlines()

    def owns(self, host: Any) -> bool:
        return self.vps is not None and host is self.vps.host

    def close(self) -> None:
        self._unsquat()
        with contextlib.suppress(Exception):
            if self.vps is not None and self.vps.host is not None:
                self.vps.thaw()
        self.stack.close()
