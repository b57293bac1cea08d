"""Plan a forced OTA (runbook 000 §2): validate `{version, targetEdgeIds, skipCanary,
force}`, then check each edge against the runbook's "Bloqueios comuns" and record every
refusal with its reason. Acts on nothing: the jobs come after the guard step."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field
from selfheal_shared.core import protocol
from selfheal_shared.core.errors import InputInvalid
from selfheal_shared.core.handler import remediator
from selfheal_shared.core.models import parse
from selfheal_shared.core.outcomes import Outcome
from selfheal_shared.edge import edge_registry, ota
from selfheal_shared.edge.ota_state import edge_blockers, thing


class PlanRequest(BaseModel):
    input: Any = None
    executionId: str = Field(min_length=1)


@remediator
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    req = parse(PlanRequest, event, "plan request")
    ota_req = parse(ota.OtaRequest, req.input, "forced OTA request")
    incident = ota.incident_id(req.executionId)
    run = protocol.begin(
        ota_req,
        actor="forced_ota_plan",
        automation=ota.AUTOMATION,
        incident_id=incident,
        execution_id=req.executionId,
        context=context,
    )
    things = {e: thing(e) for e in ota_req.targetEdgeIds}
    unknown = [e for e, t in things.items() if t is None]
    if unknown:
        raise InputInvalid(f"targetEdgeIds: no such edge in the registry: {', '.join(unknown)}")
    eligible: list[str] = []
    refused: list[dict[str, str]] = []
    already: list[str] = []
    previous: dict[str, str] = {}
    for edge_id in ota_req.targetEdgeIds:
        edge = edge_registry.get(f"edge#{edge_id}") or {}
        running = str(edge.get("firmwareVersion") or "")
        if running == ota_req.version and not ota_req.force:
            already.append(edge_id)
            run.record(
                "ota_not_needed",
                why=f"{edge_id} reports {running}; force not set",
                result=f"{edge_id} already runs {ota_req.version}: not updated",
                details={"edgeId": edge_id},
            )
            continue
        reasons = edge_blockers(edge_id, edge, things[edge_id] or {})
        if not running:
            reasons.append("no firmware version reported: nothing to roll back to")
        if reasons:
            refused.append({"edgeId": edge_id, "reason": "; ".join(reasons)})
            run.record(
                "ota_refused",
                why="runbook 000 §2 Bloqueios comuns",
                result=f"{edge_id}: not updated: {'; '.join(reasons)}",
                outcome=Outcome.SKIPPED_BY_GUARD,
                details={"edgeId": edge_id, "reasons": reasons},
            )
            continue
        eligible.append(edge_id)
        previous[edge_id] = running
    canary = None if ota_req.skipCanary or not eligible else eligible[0]
    rest = [e for e in eligible if e != canary]
    run.record(
        "ota_plan",
        why=f"forced OTA to {ota_req.version} requested by {ota_req.requestedBy or 'an operator'}",
        result=(
            f"{len(eligible)} of {len(ota_req.targetEdgeIds)} edge(s) eligible"
            + (f"; canary {canary}" if canary else "; canary skipped" if eligible else "")
            + (f"; {len(refused)} refused" if refused else "")
            + (f"; {len(already)} already on {ota_req.version}" if already else "")
        ),
        details={"eligible": eligible, "refused": refused, "already": already},
    )
    return {
        "incident": {
            "incidentId": incident,
            "executionId": req.executionId,
            "version": ota_req.version,
        },
        "plan": {
            "eligibleCount": len(eligible),
            "eligible": eligible,
            "canary": [canary] if canary else [],
            "hasCanary": canary is not None,
            "rest": rest,
            "refused": refused,
            "refusedCount": len(refused),
            "already": already,
            "previous": previous,
            "summary": _summary(ota_req.version, eligible, refused, already),
        },
    }


def _summary(
    version: str, eligible: list[str], refused: list[dict[str, str]], already: list[str]
) -> str:
    parts = [f"OTA {version}: {len(eligible)} edge(s) eligible"]
    if refused:
        parts.append("refused: " + "; ".join(f"{r['edgeId']} ({r['reason']})" for r in refused))
    if already:
        parts.append(f"already on {version}: {', '.join(already)}")
    return "; ".join(parts)
