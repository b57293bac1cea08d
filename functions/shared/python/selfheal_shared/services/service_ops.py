"""What the service-recovery workflow reads and does to one described service (runbooks
002, 003, 004): probe its status with a timeout (a hung process accepts the connection and
never answers), read its recent logs from CloudWatch Logs, restart it through what AWS
offers (SSM Run Command on the host, ECS UpdateService for a container) and verify."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from ..core import redact, run_command
from ..core.clients import client
from ..core.errors import ActionFailed, NothingFound
from . import check_document, host_checks
from .service_spec import ServiceSpec, get

#: SSM command states after which nothing changes any more.


@dataclass(frozen=True)
class Probe:
    """One status reading: `up` and, when not, what was seen (never a guess)."""

    service: str
    up: bool
    detail: str
    data: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def http_get(url: str, timeout: float) -> tuple[int | None, Any, str]:
    """(status, JSON body or None, problem) of one GET; the problem names a refused
    connection or a timeout (a process that accepts and never answers)."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            body = resp.read()
            status: int = resp.status
    except urllib.error.HTTPError as exc:
        body, status = exc.read(), exc.code
    except (TimeoutError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        if isinstance(reason, TimeoutError) or "timed out" in str(reason):
            return None, None, f"no answer within {timeout:g} s (hung)"
        return None, None, f"not answering ({reason})"
    try:
        return status, json.loads(body or b"null"), ""
    except ValueError:
        return status, None, ""


def _health(spec: ServiceSpec) -> Probe:
    url = spec.base_url() + spec.healthPath
    status, body, problem = http_get(url, spec.verify.timeoutSeconds)
    if problem:
        return Probe(spec.name, False, f"{spec.healthPath}: {problem}")
    if status != 200:
        # The service's own words, from outside: redacted before they reach a record.
        why = redact.text(str(body.get("error", ""))) if isinstance(body, dict) else ""
        return Probe(spec.name, False, f"{spec.healthPath} answered {status} {why}".strip())
    return Probe(spec.name, True, f"{spec.healthPath} answered 200", {"health": body})


def _backlog(spec: ServiceSpec) -> Probe:
    """A worker works when its process answers and its queue drains to empty."""
    alive = _health(spec)
    if not alive.up:
        return alive
    queue = get(spec.verify.queueService or "")
    wait = spec.verify.timeoutSeconds
    status, body, problem = http_get(f"{queue.base_url()}/depth?waitEmpty={wait:g}", wait + 2)
    if problem or status != 200 or not isinstance(body, dict):
        return Probe(spec.name, False, f"queue {queue.name}: {problem or status}")
    depth = int(body.get("depth", -1))
    if depth != 0:
        return Probe(
            spec.name,
            False,
            f"backlog not draining: {depth} jobs still queued in {queue.name} after {wait:g} s",
            {"depth": depth},
        )
    return Probe(spec.name, True, f"backlog drained: {queue.name} empty", {"depth": 0})


def _fresh(spec: ServiceSpec) -> Probe:
    """Runbook 004 "Validação": /health/dados-recentes "hoursSinceLastData": < 0.1, with at
    least one topic subscribed (/health/mqtt)."""
    base, wait = spec.base_url(), spec.verify.timeoutSeconds
    status, body, problem = http_get(f"{base}/health/dados-recentes", wait)
    if problem or status != 200 or not isinstance(body, dict):
        return Probe(spec.name, False, f"/health/dados-recentes: {problem or status}")
    hours = float(body.get("hoursSinceLastData", 1e9))
    _, mqtt, _ = http_get(f"{base}/health/mqtt", wait)
    topics: dict[str, Any] = mqtt if isinstance(mqtt, dict) else {}
    data = {"hoursSinceLastData": hours, "mqtt": topics}
    limit = spec.verify.maxHoursSinceLastData
    if topics.get("subscribedTopics") == 0:
        # Runbook 004 '"subscribedTopics": XX <-- Deve ser > 0': the last point may be a
        # minute old, but nothing more will arrive.
        return Probe(
            spec.name, False, f"0 MQTT topics subscribed; hoursSinceLastData {hours:.1f}", data
        )
    if hours >= limit:
        return Probe(spec.name, False, f"hoursSinceLastData {hours:.1f} (>= {limit:g})", data)
    # The figure itself is in `data`; the text says what was verified, the same on every run
    # (a wall-clock age in three decimals would differ by the second).
    return Probe(spec.name, True, f"hoursSinceLastData under {limit:g}: data arriving", data)


def _on_host(spec: ServiceSpec) -> Probe:
    """The runbook's own check, run on the service's host through SSM Run Command, its real
    output read (`host_checks`). A host SSM cannot reach is said as such."""
    assert spec.check is not None and spec.ssm is not None
    got = run_command.read(
        spec.ssm.tagKey,
        spec.ssm.tagValue,
        check_document.NAME,
        {"service": [spec.name]},
        spec.name,
    )
    if not got["instance"]:
        # Nothing measured: no host answers for this service here (as no endpoint configured).
        raise NothingFound(
            f"service {spec.name}: no host tagged {spec.ssm.tagKey}={spec.ssm.tagValue}"
        )
    if got["status"] == "TimedOut":
        why = got.get("details") or "timed out"
        return Probe(spec.name, False, f"host {got['instance']} did not run the check: {why}")
    reading = host_checks.READERS[spec.check.reads](got["code"], got["stdout"], got["stderr"])
    return Probe(spec.name, reading.up, reading.detail, reading.data)


def probe(spec: ServiceSpec) -> Probe:
    if spec.check is not None:
        return _on_host(spec)
    check = spec.verify.check
    return (
        _backlog(spec)
        if check == "backlog_drains"
        else _fresh(spec)
        if check == ("fresh_data")
        else _health(spec)
    )


def recent_logs(spec: ServiceSpec) -> list[str]:
    """The service's last `logLines` log lines (runbook: "logs --tail 200"), redacted."""
    logs = client("logs")
    try:
        events = logs.filter_log_events(logGroupName=spec.logGroup, limit=10000)["events"]
    except logs.exceptions.ResourceNotFoundException:
        return [f"(log group {spec.logGroup} not found)"]
    events.sort(key=lambda e: (e["timestamp"], e.get("ingestionTime", 0)))
    # Redacted here, where they leave the host's logs: they go into pages and the audit.
    return redact.lines([str(e["message"]) for e in events[-spec.logLines :]])


def restart(spec: ServiceSpec, incident_id: str, key: str) -> dict[str, Any]:
    """Restart through AWS: SSM Run Command on the host (the runbook's own command), or
    ECS UpdateService with a new deployment. Returns what AWS said."""
    if spec.ecs is not None:
        resp = client("ecs", sdk_retries=False).update_service(
            cluster=spec.ecs.cluster, service=spec.ecs.service, forceNewDeployment=True
        )
        deployments = resp["service"].get("deployments", [])
        return _ecs_answer(deployments[0] if deployments else None)
    assert spec.ssm is not None
    return run_command.run(
        spec.ssm.tagKey, spec.ssm.tagValue, [spec.restartCommand], key, f"selfheal {incident_id}"
    )


def restarted(spec: ServiceSpec, key: str, since: datetime | None) -> dict[str, Any] | None:
    """The restart made under `key`, if it happened: the command SSM holds with the key in
    its comment, or an ECS deployment started since the attempt began (UpdateService keeps
    no token; `since` is when the intent was written)."""
    if spec.ecs is None:
        return run_command.sent(key)
    if since is None:
        return None
    [service] = client("ecs").describe_services(
        cluster=spec.ecs.cluster, services=[spec.ecs.service]
    )["services"]
    newer = [d for d in service.get("deployments", []) if d["createdAt"] >= since]
    return _ecs_answer(newer[0]) if newer else None


def _ecs_answer(deployment: dict[str, Any] | None) -> dict[str, Any]:
    return {
        "via": "ecs:UpdateService",
        "status": "Success",
        "output": f"new deployment {deployment['id'] if deployment else '?'}",
    }


def equipment_report(spec: ServiceSpec) -> dict[str, Any]:
    """Runbook 004 "Dados Parciais": "Verificar tópicos MQTT subscritos" (/health/mqtt) and
    "quais equipamentos estão enviando dados" (/health/metrics): the configured topics, the
    subscribed ones, and the equipment with no data point within `maxHoursSinceLastData`."""
    base, wait = spec.base_url(), spec.verify.timeoutSeconds
    _, mqtt, problem = http_get(f"{base}/health/mqtt", wait)
    _, metrics, problem2 = http_get(f"{base}/health/metrics", wait)
    if problem or problem2 or not isinstance(mqtt, dict) or not isinstance(metrics, dict):
        raise ActionFailed(f"{spec.name}: /health/mqtt or /health/metrics: {problem or problem2}")
    configured = [str(t) for t in mqtt.get("configuredTopics", [])]
    subscribed = [str(t) for t in mqtt.get("topics", [])]
    last = {str(k): float(v) for k, v in metrics.get("lastDataByTopic", {}).items()}
    limit = spec.verify.maxHoursSinceLastData * 3600
    now = float(metrics.get("now", 0))
    silent = [t for t in configured if now - last.get(t, 0.0) >= limit]
    return {
        "service": spec.name,
        "configuredTopics": configured,
        "subscribedTopics": subscribed,
        "notSubscribed": [t for t in configured if t not in subscribed],
        "silent": silent,
        "silentHours": {t: round((now - last.get(t, 0.0)) / 3600, 2) for t in silent},
        "sending": [t for t in configured if t not in silent],
    }
