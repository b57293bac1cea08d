"""Guards in front of every action (kill switch, maintenance, dry-run, cooldown). A refusal
comes back with what it means for the incident (`refusals`): `pages` (people are paged on
the severity's clock; all but a silence and a duplicate) and `waits` (a silence: hold, then
go on), so a workflow routes on the one rule instead of on guard names."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field
from selfheal_shared.core import guards, refusals
from selfheal_shared.core.observability import logger
from selfheal_shared.core.outcomes import Outcome
from selfheal_shared.core.protocol import Run, remediator


class GuardRequest(BaseModel):
    automation: str = Field(min_length=1)
    resource: str = Field(min_length=1)
    incidentId: str = Field(min_length=1)
    executionId: str = Field(min_length=1)
    cooldownMinutes: int = Field(ge=0, le=24 * 60)
    dryRun: bool = False
    plan: dict[str, Any] = Field(default_factory=dict)
    #: Wider scopes whose silences also apply (e.g. `site:<id>`, `fleet`).
    scopes: list[str] = Field(default_factory=list)
    #: A safety action (the over-temperature stop): never held by a silence (runbook 000 §6).
    safety: bool = False


# The guard step of every workflow, whichever automation: the request names it.
@remediator(GuardRequest, actor="remediation_guards", automation="*", what="guard request")
def handler(run: Run[GuardRequest]) -> dict[str, Any]:
    req = run.request
    decision = guards.evaluate(
        automation=req.automation,
        resource=req.resource,
        incident_id=req.incidentId,
        execution_id=req.executionId,
        cooldown_minutes=req.cooldownMinutes,
        dry_run_requested=req.dryRun,
        scopes=tuple(req.scopes),
        safety=req.safety,
    )
    rule = {"pages": False, "waits": False}
    if not decision.proceed:
        refusal = refusals.of(decision.guard, decision.reason)
        rule = {"pages": refusal.pages, "waits": refusal.waits}
        run.record(
            req.automation,
            why=decision.reason,
            result=f"skipped: {decision.guard}"
            + ("; the incident stays open and is paged on its clock" if refusal.pages else ""),
            outcome=Outcome.SKIPPED_BY_GUARD,
            details={"guard": decision.guard, "wouldDo": req.plan, **rule},
        )
    logger.info("guards evaluated", extra=decision.to_dict())
    return {**decision.to_dict(), **rule}
