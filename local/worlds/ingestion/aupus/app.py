"""A stand-in for Aupus's Node backend `aupus-api` (runbook 004), in Python, run by pm2 on an
Aupus host: what the runbook's checks read is real. It subscribes to the equipment's MQTT
topics, saves each reading in PostgreSQL in production (`equipamentos_dados`, unique per
equipment and timestamp), simulates the save in development, and answers the runbook's
`/health` endpoints on 127.0.0.1:$PORT. It prints the runbook's own log lines.

Configuration is read once, at start, from `.env` in the working directory, as the real
backend's dotenv does: a variable already in the environment wins over `.env` (so
`MQTT_MODE=x pm2 restart aupus-api --update-env` sets it too), and a changed `.env` takes
effect at the next `pm2 restart aupus-api`. Keys: MQTT_MODE (production | development |
disabled), INSTANCE_ID, MQTT_HOST, MQTT_PORT, DATABASE_URL, PORT, MQTT_TOPICS (a comma
list of topic filters, wildcards allowed). Without MQTT_TOPICS the topics are loaded from the
registered equipment (`equipamentos.topico_mqtt`) at start ("📡 [MQTT] Carregando XX tópicos
MQTT..."): equipment registered later is subscribed at the next restart, which is what the
runbook's "Recarregar tópicos MQTT: pm2 restart aupus-api" is for.

A reading: topic `aupus/<equipamento_id>/dados`, body JSON `{"ts": <epoch s|ms or ISO
8601>, "potencia": <kW>, ...}` (the whole body is kept as `payload`). The schema is the
host's migration's, not this program's. Stdlib, paho-mqtt and psycopg only: it runs as a
program on the host and imports nothing of selfheal."""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import paho.mqtt.client as mqtt
import psycopg
from paho.mqtt.enums import CallbackAPIVersion
from psycopg import errors
from psycopg.types.json import Jsonb

MODES = ("production", "development", "disabled")
#: /health/dados-recentes: runbook 004 "hoursSinceLastData < 0.1 (menos de 6 minutos)" is
#: healthy; "Gráficos sem dados nas últimas 2+ horas" is `critical`; between is `warning`.
OK_HOURS = 0.1
CRITICAL_HOURS = 2.0
#: What Prisma says for a unique violation (runbook 004 "Erro P2002").
P2002 = "P2002: Unique constraint failed on the fields: (`equipamento_id`,`ts`)"
INSERT = (
    "INSERT INTO equipamentos_dados (equipamento_id, ts, payload, instance_id) "
    "VALUES (%s, %s, %s, %s)"
)
#: The configuration keys (`.env`, or the environment over it).
KEYS = ("MQTT_MODE", "INSTANCE_ID", "MQTT_HOST", "MQTT_PORT", "DATABASE_URL", "PORT",
        "MQTT_TOPICS")  # fmt: skip


def log(line: str) -> None:
    print(line, flush=True)


def error(line: str) -> None:
    print(f"❌ [MQTT] ERRO: {line}", file=sys.stderr, flush=True)


def read_config(directory: Path, environ: Mapping[str, str]) -> dict[str, str]:
    """`.env`, under the process's environment (dotenv never overrides a set variable)."""
    values: dict[str, str] = {}
    path = directory / ".env"
    if path.exists():
        for raw in path.read_text().splitlines():
            line = raw.strip()
            if not line or line.startswith("#") or "=" not in line:
                continue
            key, value = line.split("=", 1)
            values[key.strip()] = value.strip().strip("'\"")
    return {**values, **{k: environ[k] for k in KEYS if k in environ}}


def parse_ts(value: object) -> datetime:
    """Epoch seconds (or milliseconds, as JavaScript's Date.now()) or ISO 8601; UTC when
    no offset is given."""
    if isinstance(value, bool):
        raise ValueError(f"ts: {value!r}")
    if isinstance(value, int | float):
        seconds = float(value) / 1000 if value > 1e11 else float(value)
        return datetime.fromtimestamp(seconds, UTC)
    if isinstance(value, str):
        at = datetime.fromisoformat(value.replace("Z", "+00:00"))
        return at if at.tzinfo else at.replace(tzinfo=UTC)
    raise ValueError(f"ts: {value!r}")


def first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


@dataclass
class Ingestion:
    """The MQTT side and the database writes of one running backend."""

    mode: str
    instance_id: str
    database_url: str
    topics: list[str]
    broker: tuple[str, int]
    connected: bool = False
    subscribed: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)
    _db: psycopg.Connection[Any] | None = None
    _client: mqtt.Client | None = None
    _stopping: bool = False

    # -- MQTT -----------------------------------------------------------------------

    def start(self) -> None:
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=f"aupus-api-{self.instance_id}-{os.getpid()}",
            clean_session=True,
        )
        client.on_connect = self._on_connect
        client.on_connect_fail = self._on_connect_fail
        client.on_disconnect = self._on_disconnect
        client.on_subscribe = self._on_subscribe
        client.on_message = self._on_message
        client.reconnect_delay_set(min_delay=1, max_delay=2)
        client.connect_async(self.broker[0], self.broker[1], keepalive=30)
        client.loop_start()  # retries the first connection too
        self._client = client

    def stop(self) -> None:
        self._stopping = True
        if self._client is not None:
            self._client.disconnect()
            self._client.loop_stop()
        with self.lock:
            if self._db is not None:
                self._db.close()

    def _on_connect(self, client: mqtt.Client, _u: Any, _f: Any, rc: Any, _p: Any) -> None:
        if rc.is_failure:
            error(f"conexão recusada pelo broker: {rc}")
            return
        self.connected = True
        log("✅ [MQTT] Conectado com sucesso!")
        log(f"📡 [MQTT] Carregando {len(self.topics)} tópicos MQTT...")
        self.subscribed = 0
        if self.topics:
            client.subscribe([(t, 1) for t in self.topics])

    def _on_subscribe(self, _c: mqtt.Client, _u: Any, _mid: int, codes: Any, _p: Any) -> None:
        self.subscribed = sum(not c.is_failure for c in codes)
        log(f"📡 [MQTT] {self.subscribed} tópicos inscritos")

    def _on_connect_fail(self, _c: mqtt.Client, _u: Any) -> None:
        host, port = self.broker
        error(f"não foi possível conectar ao broker {host}:{port}")

    def _on_disconnect(self, _c: mqtt.Client, _u: Any, _f: Any, rc: Any, _p: Any) -> None:
        was, self.connected, self.subscribed = self.connected, False, 0
        if was and not self._stopping:
            log("🔴 [MQTT] ALERTA CRÍTICO: Broker OFFLINE!")

    def _on_message(self, _c: mqtt.Client, _u: Any, msg: mqtt.MQTTMessage) -> None:
        parts = msg.topic.split("/")
        try:
            body = json.loads(msg.payload)
            if not isinstance(body, dict):
                raise ValueError("not a JSON object")
            equipamento = str(body.get("equipamento_id") or parts[1])
            ts = parse_ts(body.get("ts"))
        except (ValueError, IndexError) as exc:
            error(f"payload inválido em {msg.topic}: {exc}")
            return
        if self.mode != "production":
            log("📨 [DEV] Buffer flush simulado (não salva)")
            return
        self.save(equipamento, ts, body)

    # -- PostgreSQL -----------------------------------------------------------------

    def _connection(self) -> psycopg.Connection[Any]:
        if self._db is None or self._db.closed or self._db.broken:
            self._db = psycopg.connect(self.database_url, autocommit=True, connect_timeout=5)
        return self._db

    def save(self, equipamento: str, ts: datetime, payload: dict[str, Any]) -> None:
        """One reading, as the backend's buffer flush writes it; errors are logged, never
        fatal (a fenced role, a duplicate from another instance, a database down)."""
        args = (equipamento, ts, Jsonb(payload), self.instance_id)
        with self.lock:
            try:
                try:
                    self._connection().execute(INSERT, args)
                except psycopg.OperationalError:
                    # A connection the server dropped (a restart): one fresh attempt, as
                    # the ORM's pool reconnects, before the reading is given up.
                    if self._db is not None:
                        self._db.close()
                    self._connection().execute(INSERT, args)
            except errors.UniqueViolation:
                error(f"{P2002} - equipamento {equipamento}, ts {ts.isoformat()}")
                return
            except psycopg.Error as exc:
                error(f"falha ao salvar dados de {equipamento}: {first_line(exc)}")
                return
        log("💾 [MQTT] Buffer flush: 1 registro(s) salvo(s)")


# -- HTTP --------------------------------------------------------------------------


def _query(url: str, sql: str) -> tuple[Any, ...]:
    with psycopg.connect(url, connect_timeout=2) as db:
        row = db.execute(sql).fetchone()
    assert row is not None
    return tuple(row)


def database_health(url: str) -> tuple[int, dict[str, Any]]:
    try:
        _query(url, "SELECT 1")
    except psycopg.Error as exc:
        return 503, {"status": "disconnected", "error": first_line(exc)}
    return 200, {"status": "connected"}


def recent_data(url: str) -> tuple[int, dict[str, Any]]:
    """Hours since the newest row arrived (`created_at`, against the database's clock)."""
    try:
        last, now = _query(url, "SELECT max(created_at), now() FROM equipamentos_dados")
    except psycopg.Error as exc:
        body = {"status": "critical", "hoursSinceLastData": None, "lastDataAt": None}
        return 503, {**body, "error": first_line(exc)}
    if last is None:
        hours, status = None, "critical"
    else:
        hours = round(max(0.0, (now - last).total_seconds() / 3600), 4)
        status = "ok" if hours < OK_HOURS else "critical" if hours >= CRITICAL_HOURS else "warning"
    body = {
        "status": status,
        "hoursSinceLastData": hours,
        "lastDataAt": last.astimezone(UTC).isoformat() if last else None,
    }
    return 200, {**body, "checks": {"recentData": {"status": status, "hoursSinceLastData": hours}}}


METRICS_SQL = """
SELECT (SELECT count(*) FROM equipamentos),
       (SELECT count(DISTINCT d.equipamento_id) FROM equipamentos_dados d
          JOIN equipamentos e ON e.id = d.equipamento_id
         WHERE d.created_at > now() - interval '24 hours'),
       count(*),
       count(*) FILTER (WHERE jsonb_typeof(payload->'potencia') = 'number'
                          AND (payload->>'potencia')::float8 >= 0)
  FROM equipamentos_dados WHERE created_at > now() - interval '24 hours'
"""


def registered_topics(url: str) -> list[str]:
    """The registered equipment's topics, read once at start (none when the database does
    not answer: the backend runs, subscribed to nothing, and says so)."""
    try:
        with psycopg.connect(url, connect_timeout=5) as db:
            found = db.execute("SELECT topico_mqtt FROM equipamentos ORDER BY id").fetchall()
    except psycopg.Error as exc:
        # The error's class only: its text names the host's port and database.
        error(f"tópicos não carregados do banco: {type(exc).__name__}")
        return []
    return [str(t) for (t,) in found if t]


def _percent(part: int, whole: int) -> float:
    return round(100.0 * part / whole, 1) if whole else 0.0


def metrics(url: str, ingestion: Ingestion) -> tuple[int, dict[str, Any]]:
    """Coverage: % of known equipment with data in 24 h; quality: % of readings with a
    numeric, non-negative `potencia`."""
    try:
        known, covered, rows, good = _query(url, METRICS_SQL)
    except psycopg.Error as exc:
        return 503, {"status": "error", "error": first_line(exc)}
    return 200, {
        "dataIngestion": {
            "last24h": {
                "coverage": _percent(covered, known),
                "equipmentWithData": covered,
                "equipmentTotal": known,
                "records": rows,
            }
        },
        "quality": {"last24h": {"goodPercentage": _percent(good, rows), "records": rows}},
        "mqtt": mqtt_health(ingestion),
    }


def mqtt_health(ingestion: Ingestion) -> dict[str, Any]:
    status = "disabled" if ingestion.mode == "disabled" else (
        "connected" if ingestion.connected else "disconnected"
    )  # fmt: skip
    return {
        "status": status,
        "subscribedTopics": ingestion.subscribed,
        "mode": ingestion.mode,
        "instanceId": ingestion.instance_id,
    }


def health(url: str, ingestion: Ingestion) -> tuple[int, dict[str, Any]]:
    mqtt_state = mqtt_health(ingestion)["status"]
    db_code, db = database_health(url)
    reasons = []
    if mqtt_state == "disconnected":
        reasons.append("MQTT desconectado do broker")
    if db_code != 200:
        reasons.append(f"banco de dados inacessível: {db.get('error', '')}")
    body: dict[str, Any] = {
        "status": "unhealthy" if reasons else "healthy",
        "mqtt": mqtt_state,
        "database": db["status"],
        "mode": ingestion.mode,
        "instanceId": ingestion.instance_id,
    }
    if reasons:
        body["reason"] = "; ".join(reasons)
    return (503 if reasons else 200), body


def handler(url: str, ingestion: Ingestion) -> type[BaseHTTPRequestHandler]:
    routes: dict[str, Callable[[], tuple[int, dict[str, Any]]]] = {
        "/health": lambda: health(url, ingestion),
        "/health/mqtt": lambda: (200, mqtt_health(ingestion)),
        "/health/database": lambda: database_health(url),
        "/health/dados-recentes": lambda: recent_data(url),
        "/health/metrics": lambda: metrics(url, ingestion),
    }

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            route = routes.get(urlparse(self.path).path.rstrip("/") or "/")
            code, body = route() if route else (404, {"error": "not found"})
            data = json.dumps(body).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: object) -> None:
            pass  # one line per request would drown the lines the runbook greps for

    return Handler


def main() -> None:
    config = read_config(Path.cwd(), os.environ)
    mode = config.get("MQTT_MODE", "development")
    instance_id = config.get("INSTANCE_ID", "local")
    if mode not in MODES:
        error(f"MQTT_MODE inválido: {mode!r} (production | development | disabled)")
        mode = "disabled"
    if mode == "production":
        log(f"🚀 [MQTT] MODO PRODUÇÃO - Instância: {instance_id}")
    elif mode == "development":
        log("🔧 [MQTT] MODO DESENVOLVIMENTO")
    else:
        log("⏸️ [MQTT] MQTT DESABILITADO - nenhum dado será recebido")
    topics = [t.strip() for t in config.get("MQTT_TOPICS", "").split(",") if t.strip()]
    if not topics and mode != "disabled":
        topics = registered_topics(config["DATABASE_URL"])
    broker = (config.get("MQTT_HOST", "127.0.0.1"), int(config.get("MQTT_PORT", "1883")))
    ingestion = Ingestion(mode, instance_id, config["DATABASE_URL"], topics, broker)
    port = int(config.get("PORT", "3000"))
    server = ThreadingHTTPServer(("127.0.0.1", port), handler(config["DATABASE_URL"], ingestion))
    server.daemon_threads = True

    def stop(_signum: int, _frame: object) -> None:
        raise SystemExit(0)  # pm2 stop/restart: SIGINT, then SIGKILL after kill_timeout

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    log(f"🌐 [HTTP] aupus-api escutando em http://127.0.0.1:{port}")
    if mode != "disabled":
        ingestion.start()
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        ingestion.stop()
        server.server_close()


if __name__ == "__main__":
    main()
