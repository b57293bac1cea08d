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
from .service_spec import ServiceSpec

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


#: How long (in seconds) a phase may take on the host: `verify` and `report` may wait there
#: (at most 30 s) for data to arrive.
PHASE_SECONDS = {"check": 30, "verify": 90, "report": 90}


def _on_host(spec: ServiceSpec, phase: str = "check", expect: list[str] | None = None) -> Probe:
    """The runbook's own check, run on the service's host through SSM Run Command, its real
    output read (`host_checks`). A host SSM cannot reach is said as such."""
    assert spec.check is not None and spec.ssm is not None
    reads = spec.report.reads if phase == "report" and spec.report else spec.check.reads
    got = run_command.read(
        spec.ssm.tagKey,
        spec.ssm.tagValue,
        check_document.NAME,
        {"service": [spec.name], "phase": [phase], "expect": [",".join(expect or [])]},
        spec.name,
        wait_seconds=PHASE_SECONDS[phase],
    )
    if not got["instance"]:
        # Nothing measured: no host answers for this service here (as no endpoint configured).
        raise NothingFound(
            f"service {spec.name}: no host tagged {spec.ssm.tagKey}={spec.ssm.tagValue}"
        )
    if got["status"] == "TimedOut":
        why = got.get("details") or "timed out"
        return Probe(spec.name, False, f"host {got['instance']} did not run the check: {why}")
    reading = host_checks.READERS[reads](got["code"], got["stdout"], got["stderr"])
    return Probe(spec.name, reading.up, reading.detail, reading.data)


def probe(spec: ServiceSpec, phase: str = "check") -> Probe:
    """The service's status now (`check`), or after a restart (`verify`): on its host when
    it has a host check; a service without one (a container behind a load balancer) by its
    `healthPath` at its configured URL."""
    if spec.check is not None:
        return _on_host(spec, phase)
    return _health(spec)


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
        spec.ssm.tagKey,
        spec.ssm.tagValue,
        spec.ssm.shell([spec.restartCommand]),
        key,
        f"selfheal {incident_id}",
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


def equipment_report(spec: ServiceSpec, expect: list[str] | None = None) -> dict[str, Any]:
    """Runbook 004 "Dados Parciais", read on the ingestion's host: the registered equipment,
    how many topics the backend subscribed ("Verificar tópicos MQTT subscritos"), which
    equipment sent nothing in the last hour ("quais equipamentos estão enviando dados"),
    coverage and good quality (`/health/metrics`). `expect`: equipment whose readings the
    host waits for first (at most 30 s): those silent before a reload."""
    if spec.report is None:
        raise ActionFailed(f"{spec.name}: no equipment report described")
    got = _on_host(spec, "report", expect)
    if not got.up:
        raise ActionFailed(f"{spec.name}: {got.detail}")
    return {"service": spec.name, **got.data}
