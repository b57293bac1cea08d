"""Reading the real output of the runbooks' check commands, run on a service's host:
`curl -sS -w '\\n%{http_code}\\n' .../health`, `redis-cli ping`, `pg_isready`,
`rq info --only-queues` (repeated until the queue is empty), and runbook 004's `pm2 status
aupus-api`, `grep MQTT_MODE .env`, `/health/dados-recentes`, `/health/mqtt`,
`/health/metrics`, its equipment query in `psql`, and an MQTT connect to the broker. Each
reader gets the exit code and what the command printed, and says up or not, with the line
that says why (never a guess: a reading it cannot parse is "not up", with the output)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..core import redact

#: `rq info --only-queues`: "default |████ 12, 0 executing, 1 finished, 0 failed" (rq 2.x)
#: or "default |████ 12" (rq 1.x), and the total line "1 queues, 12 jobs total".
RQ_TOTAL = re.compile(r"^\d+ queues?, (\d+) jobs? total$", re.M)
#: `rq info` (without --only-queues): "1 workers, 1 queues", after the worker lines.
RQ_WORKERS = re.compile(r"^(\d+) workers?, \d+ queues?$", re.M)


@dataclass(frozen=True)
class Reading:
    up: bool
    detail: str
    data: dict[str, Any] = field(default_factory=dict)


#: An address's port: where a local process listens changes from run to run; what an
#: operator needs is that it did not answer (the host and service say where).
PORT = re.compile(r"\b(127\.0\.0\.1|localhost)(:| port )\d+")


def scrub(text: str) -> str:
    """Redacted, and without the ports of local addresses."""
    return PORT.sub(r"\1", redact.text(text))


def _first_line(*texts: str) -> str:
    for text in texts:
        for line in text.splitlines():
            if line.strip():
                return scrub(line.strip())[:300]
    return "(no output)"


#: curl's exit codes (curl(1) "EXIT CODES") for a service that does not answer.
CURL_EXIT = {6: "host not found", 7: "connection refused", 28: "no answer in time (hung)",
             52: "empty reply", 56: "connection reset"}  # fmt: skip


def http_health(code: int, out: str, err: str) -> Reading:
    """`curl -sS -m N -w '\\n%{http_code}\\n' URL`: the body, then the HTTP status (000 when
    nothing answered: curl's own error is on stderr, its exit code says which)."""
    lines = out.rstrip("\n").splitlines()
    status = lines[-1].strip() if lines else ""
    body = "\n".join(lines[:-1])
    if code != 0 or not status.isdigit() or status == "000":
        if code == 28:
            return Reading(False, "/health: no answer in time (hung)")
        why = CURL_EXIT.get(code) or _first_line(err)
        return Reading(False, f"/health: not answering ({why})")
    try:
        doc = json.loads(body or "null")
    except ValueError:
        doc = None
    if status != "200":
        said = ""
        if isinstance(doc, dict):
            said = str(doc.get("error") or ", ".join(f"{k}: {v}" for k, v in doc.items()
                                                     if k != "status"))  # fmt: skip
        return Reading(False, f"/health answered {status} {scrub(said)}".strip())
    return Reading(True, "/health answered 200", {"health": doc})


def redis_ping(code: int, out: str, err: str) -> Reading:
    """`redis-cli ping`: PONG, or "Could not connect to Redis at ...: Connection refused".
    Its answer is the last line (a login profile may print before it)."""
    if code == 0 and out.strip().rsplit("\n", 1)[-1].strip() == "PONG":
        return Reading(True, "redis-cli ping: PONG")
    return Reading(False, f"redis-cli ping: {_first_line(err, out)}")


#: pg_isready's exit codes (PostgreSQL documentation, pg_isready).
PG_ISREADY = {0: "accepting connections", 1: "rejecting connections", 2: "no response",
              3: "no attempt (bad parameters)"}  # fmt: skip


def pg_isready(code: int, out: str, err: str) -> Reading:
    """`pg_isready`: "host:port - accepting connections" (0), rejecting (1), no response (2)."""
    said = _first_line(out, err)
    if code == 0:
        return Reading(True, f"pg_isready: {said}")
    return Reading(False, f"pg_isready: {said} ({PG_ISREADY.get(code, f'exit {code}')})")


#: A Compose v2 state as `docker compose ps` words it, without how long ago ("Up 3 minutes"
#: is "Up", "Exited (1) 2 seconds ago" is "Exited (1)"): how long changes from run to run.
COMPOSE_STATE = re.compile(
    r"^(Up|Exited \(-?\d+\)|Restarting \(-?\d+\)|Created|Paused|Dead|Removing)(\s|$)"
)
#: A container's name as Compose gives it: `<project>-<service>-<n>`.
COMPOSE_NAME = re.compile(r"^\S+-\d+$")


def compose_rows(text: str) -> list[tuple[str, str]]:
    """(service, state) of each row of `docker compose ps [-a]` (Compose v2: NAME, IMAGE,
    COMMAND, SERVICE, CREATED, STATUS, PORTS, each column starting where its header name
    does; cells hold spaces), in order; a header starts each reading again."""
    rows: list[tuple[str, str]] = []
    starts: list[tuple[str, int]] = []
    for line in text.splitlines():
        if line.startswith("NAME ") and " SERVICE " in line and " STATUS" in line:
            starts = [(m.group(), m.start()) for m in re.finditer(r"\S+", line)]
            continue
        if not starts:
            continue
        cells = {
            name: line[at : starts[i + 1][1] if i + 1 < len(starts) else None].strip()
            for i, (name, at) in enumerate(starts)
        }
        state = COMPOSE_STATE.match(cells.get("STATUS", ""))
        if not (COMPOSE_NAME.match(cells.get("NAME", "")) and state and cells.get("SERVICE")):
            starts = []  # the table ended: what follows is another command's output
            continue
        rows.append((cells["SERVICE"], state.group(1)))
    return rows


def rq_backlog(code: int, out: str, err: str) -> Reading:
    """`docker compose ps worker` (runbook 002 "Worker rodando?") and `rq info`, read twice
    or more while the queue drains (a worker that dies right after its restart shows in the
    later readings): a worker not Up, or none registered in Redis, is down; drained when the
    last reading says 0 jobs; "not draining" when the count never fell."""
    rows = compose_rows(out)
    if rows and rows[-1][1] != "Up":  # the latest reading decides
        return Reading(False, "docker compose ps: {} {}".format(*rows[-1]))
    totals = [int(n) for n in RQ_TOTAL.findall(out)]
    if code != 0 or not totals:
        return Reading(False, f"rq info: {_first_line(out, err)}")
    first, last = totals[0], totals[-1]
    data = {"depth": last, "readings": totals}
    workers = [int(n) for n in RQ_WORKERS.findall(out)]
    if workers and workers[-1] == 0:
        return Reading(
            False,
            f"no worker registered in Redis after {len(totals)} readings (rq info: 0 workers); "
            f"{last} jobs queued",
            data,
        )
    if last == 0:
        return Reading(True, "backlog drained: rq info says 0 jobs queued", data)
    if last < first:
        return Reading(True, f"backlog draining: {first} -> {last} jobs queued (rq info)", data)
    return Reading(
        False,
        f"backlog not draining: {last} jobs still queued after {len(totals)} readings (rq info)",
        data,
    )


#: What separates a status command's output from curl's answer in a check's output.
CURL_MARK = "--- curl /health\n"
#: `systemctl status`'s "Active:" line: "active (running) since ...", "failed (Result: ...)".
SYSTEMD_ACTIVE = re.compile(r"^\s*Active: (?P<words>.+)$", re.M)


def systemd_health(code: int, out: str, err: str) -> Reading:
    """`systemctl status <unit>` (runbook 003 §4.1 verify_status), then curl's `/health`
    (verify_health): a unit not active (running) is down, whatever a port says; an active
    one is read by its `/health` (a hung process times out)."""
    status, marked, curl = out.partition(CURL_MARK)
    active = SYSTEMD_ACTIVE.search(status)
    if not marked or active is None:
        return Reading(False, f"systemctl status: {_first_line(status, err)}")
    words = active["words"].strip()
    if not words.startswith("active (running)"):
        return Reading(False, f"systemctl status: Active: {scrub(words)}")
    health = http_health(code, curl, err)
    # "since <time>" left out: when the unit started changes from run to run.
    return Reading(health.up, f"systemctl: active (running); {health.detail}", health.data)


def compose_health(code: int, out: str, err: str) -> Reading:
    """`docker compose ps -a <service>` (runbook 002 "Verificar status"; `-a` so a stopped
    container shows how it exited), then curl's `/health`: a container not Up is down; an
    Up one is read by its `/health`."""
    status, marked, curl = out.partition(CURL_MARK)
    rows = compose_rows(status)
    if not marked or (not rows and not status.startswith("NAME ")):
        return Reading(False, f"docker compose ps: {_first_line(status, err)}")
    if not rows:
        return Reading(False, "docker compose ps: no container (not created, or removed)")
    service, state = rows[-1]
    if state != "Up":
        return Reading(False, f"docker compose ps: {service} {state}")
    health = http_health(code, curl, err)
    return Reading(health.up, f"docker compose ps: {service} Up; {health.detail}", health.data)


#: Runbook 004 "Validação": "hoursSinceLastData": < 0.1 (menos de 6 minutos).
FRESH_HOURS = 0.1
#: ANSI colours in pm2's table.
ANSI = re.compile(r"\x1b\[[0-9;]*m")
#: A section of a check's output: "--- <what>" on a line of its own.
SECTION = re.compile(r"^--- (.+)$", re.M)


def sections(out: str) -> dict[str, str]:
    """A check's output cut at its "--- <what>" lines: {"": what came first, what: text}."""
    parts = SECTION.split(out)
    found = {"": parts[0]}
    for name, text in zip(parts[1::2], parts[2::2], strict=True):
        found[name.strip()] = text.lstrip("\n")
    return found


def pm2_status(out: str, app: str) -> str | None:
    """The `status` cell of `app`'s row in `pm2 status` (online, stopped, errored, ...), or
    None when pm2 lists no such app."""
    header: list[str] = []
    for raw in ANSI.sub("", out).splitlines():
        cells = [c.strip() for c in raw.split("│")]
        if "status" in cells and "name" in cells:
            header = cells
        elif header and len(cells) == len(header) and cells[header.index("name")] == app:
            return cells[header.index("status")]
    return None


def _json_answer(text: str) -> tuple[str, Any]:
    """curl's `-w '\\n%{http_code}\\n'` answer: (status, parsed JSON body or None)."""
    lines = text.rstrip("\n").splitlines()
    status = lines[-1].strip() if lines else ""
    try:
        return status, json.loads("\n".join(lines[:-1]) or "null")
    except ValueError:
        return status, None


def aupus_health(code: int, out: str, err: str) -> Reading:
    """Runbook 004 "Sem Dados MQTT", its checks in order: `pm2 status aupus-api` (online?),
    `.env`'s MQTT_MODE ("DEVE SER: MQTT_MODE=production ... dados NÃO serão salvos"),
    `/health/dados-recentes` ("hoursSinceLastData": < 0.1) and `/health/mqtt`
    ("subscribedTopics" > 0). Up only when all four say so; each problem is named."""
    parts = sections(out)
    state = pm2_status(parts[""], "aupus-api")
    if state != "online":
        said = f"aupus-api {state}" if state else f"no aupus-api ({_first_line(parts[''], err)})"
        return Reading(False, f"pm2: {said}", {"pm2": state})
    modes = re.findall(r"^MQTT_MODE=(.*)$", parts.get(".env", ""), re.M)
    mode = modes[-1].strip().strip("'\"") if modes else ""
    fresh_status, fresh = _json_answer(parts.get("curl /health/dados-recentes", ""))
    _, mqtt = _json_answer(parts.get("curl /health/mqtt", ""))
    mqtt = mqtt if isinstance(mqtt, dict) else {}
    hours = fresh.get("hoursSinceLastData") if isinstance(fresh, dict) else None
    data: dict[str, Any] = {"pm2": state, "envMode": mode, "mqtt": mqtt}
    if isinstance(hours, int | float) and not isinstance(hours, bool):
        data["hoursSinceLastData"] = float(hours)
    problems = []
    if mode != "production":
        problems.append(f"MQTT_MODE={mode or '(not set)'} in .env: readings NOT saved "
                        "(must be production)")  # fmt: skip
    if fresh_status != "200" or "hoursSinceLastData" not in data:
        why = "no data point saved yet" if fresh_status == "200" else f"answered {fresh_status}"
        problems.append(f"/health/dados-recentes: {why or 'no answer'}")
    elif data["hoursSinceLastData"] >= FRESH_HOURS:
        problems.append(f"hoursSinceLastData {data['hoursSinceLastData']:.1f} "
                        f"(>= {FRESH_HOURS:g})")  # fmt: skip
    if mqtt.get("subscribedTopics") == 0:
        # "subscribedTopics": XX <-- Deve ser > 0: the last point may be a minute old, but
        # nothing more will arrive.
        problems.append("0 MQTT topics subscribed")
    elif mqtt and mqtt.get("status") != "connected":
        problems.append(f"MQTT {scrub(str(mqtt.get('status')))}")
    if problems:
        return Reading(False, "pm2: aupus-api online; " + "; ".join(problems), data)
    # The figure is in `data`; the text says what was verified, the same on every run.
    return Reading(True, f"pm2: aupus-api online; hoursSinceLastData under {FRESH_HOURS:g}: "
                   "data arriving", data)  # fmt: skip


def mqtt_connect(code: int, out: str, err: str) -> Reading:
    """`mosquitto_sub ... -E -W 5` (runbook 004 "Testar conexão com o broker"): a real MQTT
    connect and subscribe, exit 0 once the broker acknowledged it."""
    if code == 0:
        return Reading(True, "MQTT connect: the broker accepted the connection and the "
                       "subscription")  # fmt: skip
    return Reading(False, f"MQTT connect: {_first_line(err, out)}")


#: psql's words with the names that change from deployment to deployment quoted.
QUOTED = re.compile(r' ?"[^"]*"')


def psql_select(code: int, out: str, err: str) -> Reading:
    """`psql <the backend's DATABASE_URL> -c 'SELECT 1'` (runbook 004 "Verificar banco de
    dados"): the database answers the backend's own connection."""
    if code == 0 and out.strip().splitlines()[-1:] == ["1"]:
        return Reading(True, "psql: SELECT 1 answered (the backend's DATABASE_URL)")
    said = _first_line(err, out)
    said = said.split("FATAL:", 1)[-1].strip() if "FATAL:" in said else said
    return Reading(False, f"psql: {QUOTED.sub('', said)}")


def aupus_equipment(code: int, out: str, err: str) -> Reading:
    """Runbook 004 "Dados Parciais": `/health/mqtt` ("subscribedTopics"), `/health/metrics`
    (coverage, goodPercentage) and its query of which equipment sent data in the last hour,
    run as `psql -qAt -F '|'` over every registered equipment (id|rows in the last
    hour|hours since its last row, empty beyond 24 h). `up` says the report was read."""
    parts = sections(out)
    _, mqtt = _json_answer(parts.get("curl /health/mqtt", ""))
    _, metrics = _json_answer(parts.get("curl /health/metrics", ""))
    rows = [line.split("|") for line in parts.get("psql", "").splitlines() if line.count("|") == 2]
    if code != 0 or not isinstance(mqtt, dict) or not rows:
        return Reading(False, f"equipment report: {_first_line(err, parts.get('psql', ''), out)}")
    last_hour = {eq: int(n) for eq, n, _ in rows if n.isdigit()}
    hours = {eq: (float(h) if h else None) for eq, _, h in rows}
    silent = [eq for eq in last_hour if last_hour[eq] == 0]
    metrics = metrics if isinstance(metrics, dict) else {}
    subscribed = mqtt.get("subscribedTopics")
    report = {
        "equipment": sorted(last_hour),
        "subscribedTopics": subscribed if isinstance(subscribed, int) else None,
        "silent": silent,
        "silentHours": {eq: hours[eq] for eq in silent},
        "sending": [eq for eq in last_hour if last_hour[eq] > 0],
        "rowsLastHour": last_hour,
        "coverage": metrics.get("dataIngestion", {}).get("last24h", {}).get("coverage"),
        "goodPercentage": metrics.get("quality", {}).get("last24h", {}).get("goodPercentage"),
    }
    return Reading(True, f"{len(silent)} of {len(last_hour)} equipment silent", report)


READERS: dict[str, Callable[[int, str, str], Reading]] = {
    "http_health": http_health,
    "redis_ping": redis_ping,
    "pg_isready": pg_isready,
    "rq_backlog": rq_backlog,
    "systemd_health": systemd_health,
    "compose_health": compose_health,
    "aupus_health": aupus_health,
    "mqtt_connect": mqtt_connect,
    "psql_select": psql_select,
    "aupus_equipment": aupus_equipment,
}
