"""Bring a described service back (issue 12 items 1-2): its dependencies first ("se Redis
estiver down, subir Redis primeiro"), then the service itself only if it is still down;
each restart through SSM Run Command (or ECS UpdateService), within the service's restart
budget (the circuit breaker: default 3 per sliding hour; when spent, no restart: escalate
with the last attempts), and verified by the service's own check."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, Field
from selfheal_shared.core import clock, effects, windows
from selfheal_shared.core.errors import ActionFailed, GuardRefused
from selfheal_shared.core.outcomes import Outcome
from selfheal_shared.core.protocol import Run, remediator
from selfheal_shared.services import mqtt_markers, service_ops, service_spec
from selfheal_shared.services.service_recovery import AUTOMATION, HOUR, ServiceIncident, budget_key
from selfheal_shared.services.service_spec import ServiceSpec


class RecoverRequest(BaseModel):
    incident: ServiceIncident
    downDependencies: list[str] = Field(default_factory=list)
    #: Why this restart (e.g. partial data: "reload the MQTT topic subscriptions").
    purpose: str = ""


def _history(slots: list[dict[str, Any]]) -> str:
    return ", ".join(
        f"{datetime.fromtimestamp(float(s['at']), UTC):%H:%M} ({s.get('incident', '?')}: "
        f"{s.get('result', 'no result recorded')})"
        for s in slots
    )


def restart_and_verify(run: Run[RecoverRequest], spec: ServiceSpec) -> dict[str, Any]:
    """One restart of one service, within its budget, verified. Never raises for a restart
    that did not work: the answer says what happened (the workflow escalates with it)."""
    inc = run.request.incident
    if not spec.restartable:
        # What the people it goes to need first: its status as read now and its last log
        # lines (redacted).
        seen = service_ops.probe(spec).detail
        logs = service_ops.recent_logs(spec, inc.began())[-5:]
        said = f"; status: {seen}" + (f"; last log lines: {' | '.join(logs)}" if logs else "")
        run.record(
            "not_restarted",
            why=f"{spec.name} is not selfheal's to restart ({spec.runbook})",
            result=f"{spec.name} down; NOT restarted: for {spec.owner}{said}",
        )
        return {
            "service": spec.name,
            "ok": False,
            "verdict": "not_ours",
            "text": f"{spec.name} down and NOT restarted (not selfheal's): for {spec.owner}" + said,
        }
    now = clock.now().timestamp()
    target = "ECS " + spec.ecs.service if spec.ecs else f"tag {spec.ssm.tagKey}={spec.ssm.tagValue}"  # type: ignore[union-attr]
    effect = run.effect_key("restart_service", f"service:{spec.name}")
    taken, recent = windows.take(
        budget_key(spec.name),
        spec.restartsPerHour,
        HOUR,
        now,
        {"incident": inc.incidentId, "key": effect},
    )
    if not taken:
        history = _history(recent)
        run.record(
            "circuit_open",
            why=f"restart budget of {spec.name} spent: {len(recent)} restarts in the last hour "
            f"(limit {spec.restartsPerHour}); it resets by itself as they age out",
            result=f"{spec.name} NOT restarted; last attempts: {history}",
            details={"attempts": recent},
        )
        return {
            "service": spec.name,
            "ok": False,
            "verdict": "budget_spent",
            "text": f"{spec.name} NOT restarted: restart budget spent ({len(recent)} in the last "
            f"hour, limit {spec.restartsPerHour}); last attempts: {history}",
            "attempts": recent,
        }
    why = run.request.purpose or f"{spec.name} down ({spec.runbook})"
    try:
        answer = run.act(
            "restart_service",
            target=f"service:{spec.name}",
            why=why,
            plan=f"run '{spec.restartCommand}' on {target}",
            do=lambda key: service_ops.restart(spec, inc.incidentId, key),
            landed=lambda key: service_ops.restarted(
                spec, key, effects.began(run.incident_id, key)
            ),
            inverse={"action": "none", "why": "a restart has nothing to undo"},
            result=lambda a: f"{a['via']} '{spec.restartCommand}' on {target}: {a['status']}",
            verify=lambda a: (
                None
                if a["status"] == "Success"
                else f"the command ended {a['status']}: {a.get('output', '')}"
            ),
            details=lambda a: {"command": a},
        )
    except GuardRefused:
        windows.annotate(budget_key(spec.name), effect, {"result": "not done (guard)"})
        raise
    except ActionFailed as exc:
        windows.annotate(budget_key(spec.name), effect, {"result": "restart failed"})
        return {
            "service": spec.name,
            "ok": False,
            "verdict": "restart_failed",
            "text": f"restart of {spec.name} failed: {exc}",
        }
    probe = service_ops.probe(spec, "verify")
    run.record(
        "verify_service",
        why=f"after '{spec.restartCommand}': does {spec.name} work ({spec.verify.check})?",
        result=f"{spec.name}: {probe.detail}" + ("" if probe.up else " - NOT recovered"),
        details={"probe": probe.to_dict(), "command": answer},
    )
    windows.annotate(
        budget_key(spec.name), effect, {"result": "recovered" if probe.up else "not recovered"}
    )
    return {
        "service": spec.name,
        "ok": probe.up,
        "verdict": "recovered" if probe.up else "not_recovered",
        "text": f"{spec.name} restarted ({answer['via']}) and "
        + (f"verified: {probe.detail}" if probe.up else f"NOT recovered: {probe.detail}"),
    }


@remediator(RecoverRequest, actor="service_recover", automation=AUTOMATION, what="recovery")
def handler(run: Run[RecoverRequest]) -> dict[str, Any]:
    spec = service_spec.get(run.request.incident.service)
    steps: list[dict[str, Any]] = []
    for dep in [d for d in spec.dependencies if d in run.request.downDependencies]:
        step = restart_and_verify(run, service_spec.get(dep))
        steps.append(step)
        if not step["ok"]:
            return _answer(spec, steps, step["verdict"], run.request.incident)
    if steps:
        probe = service_ops.probe(spec)
        run.record(
            "verify_service",
            why=f"its dependencies were restarted first: is {spec.name} back without a restart?",
            result=f"{spec.name}: {probe.detail}",
            details={"probe": probe.to_dict()},
        )
        if probe.up:
            steps.append(
                {
                    "service": spec.name,
                    "ok": True,
                    "verdict": "recovered",
                    "text": f"{spec.name} back once its dependencies were: {probe.detail}",
                }
            )
            return _answer(spec, steps, "recovered", run.request.incident)
    wrong = _wrong_mode(spec)
    if wrong:
        run.record(
            "not_restarted",
            why=f"{spec.name}: {wrong}; a restart reads .env again and cannot help",
            result=f"{spec.name} NOT restarted: {wrong}; selfheal does not set production "
            "(another instance may be in production: never two)",
        )
        steps.append({"service": spec.name, "ok": False, "verdict": "needs_people",
                      "text": f"{spec.name} NOT restarted: {wrong}: a restart cannot help; "
                      "set MQTT_MODE=production in .env once no other instance is in "
                      "production, then pm2 restart aupus-api (runbook 004 passo 3)"})  # fmt: skip
        return _answer(spec, steps, "needs_people", run.request.incident)
    step = restart_and_verify(run, spec)
    steps.append(step)
    return _answer(spec, steps, step["verdict"], run.request.incident)


def _wrong_mode(spec: ServiceSpec) -> str:
    """An ingestion whose `.env` is not in production (runbook 004 passo 3), as read now:
    what to say, or "" (any other service, or the mode right)."""
    if spec.kind != "ingestion" or spec.check is None:
        return ""
    mode = service_ops.probe(spec).data.get("envMode")
    return "" if mode in (None, "production") else f"MQTT_MODE={mode or '(not set)'} in .env"


def _answer(
    spec: ServiceSpec, steps: list[dict[str, Any]], verdict: str, incident: ServiceIncident
) -> dict[str, Any]:
    fixed = verdict == "recovered"
    summary = "; ".join(s["text"] for s in steps)
    markers: dict[str, Any] = {}
    if not fixed:
        read = service_ops.read_logs(spec, incident.began())
        logs = read[-spec.logLines :]
        if spec.kind == "ingestion":
            # Runbook 004 passo 2 "pm2 logs aupus-api | grep MQTT": what its markers say over
            # the incident's lines, before the raw tail (the page is cut at 3000 characters).
            reading = mqtt_markers.read(read)
            markers = {"summary": reading.summary(), "findings": reading.findings}
            summary += f"; pm2 logs | grep MQTT (runbook 004 passo 2): {markers['summary']}"
        summary += f"; last {len(logs)} log lines of {spec.name}: " + " | ".join(logs[-10:])
    return {
        "outcome": (Outcome.FIXED if fixed else Outcome.NOT_FIXED).value,
        "verdict": verdict,
        "summary": summary[:3000],
        "steps": steps,
        **({"logMarkers": markers} if markers else {}),
    }
