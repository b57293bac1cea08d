"""Tell the ops topic how an incident ended and write its final outcome to the audit trail."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field
from selfheal_shared.core import effects, notify
from selfheal_shared.core.observability import count
from selfheal_shared.core.outcomes import Outcome
from selfheal_shared.core.protocol import Run, recorded_steps, remediator


class NotifyRequest(BaseModel):
    incidentId: str = Field(min_length=1)
    executionId: str = Field(min_length=1)
    automation: str = Field(min_length=1)
    outcome: Outcome
    summary: str
    #: Results of the actions taken; each changed action gets this outcome in the audit trail.
    actions: list[dict[str, Any]] = Field(default_factory=list)
    #: Actions taken before, after which recovery was NOT observed: recorded NOT_FIXED with
    #: `notFixedWhy`, so only the action that was followed by recovery is credited.
    notFixed: list[dict[str, Any]] = Field(default_factory=list)
    notFixedWhy: str = ""
    details: dict[str, Any] = Field(default_factory=dict)
    #: Who to tell, when not the default for the outcome (e.g. a freeze tells L1 and L2).
    levels: list[str] | None = None
    #: The runbook section the workflow follows, named in the page ("Runbook:" in the mail).
    runbook: str = ""
    #: Tell once per execution and outcome: a retry after the publish went out (its answer
    #: lost) finds the record and sends nothing again (a report must not arrive twice).
    once: bool = False


# The last step of every workflow, whichever automation: the request names it.
@remediator(NotifyRequest, actor="notify", automation="*", what="notification")
def handler(run: Run[NotifyRequest]) -> dict[str, Any]:
    req = run.request
    sent = (
        effects.key(req.incidentId, "notify", req.executionId, f"{req.outcome}:{req.summary}")
        if req.once
        else ""
    )
    if sent and (before := effects.prior(req.incidentId, "notify", sent)).record is not None:
        return dict(before.value())
    for act in req.notFixed:
        if act.get("changed"):
            run.record(
                str(act["action"]),
                why=req.notFixedWhy or "recovery was not observed after this action",
                result=str(act.get("result", "")),
                outcome=Outcome.NOT_FIXED,
            )
    for act in req.actions:
        if act.get("changed"):
            run.record(
                str(act["action"]),
                why=req.summary,
                result=str(act.get("result", "")),
                outcome=req.outcome,
            )
    levels = req.levels or list(notify.LEVELS_FOR[req.outcome])
    message = {
        "incidentId": req.incidentId,
        "automation": req.automation,
        "outcome": req.outcome,
        "summary": req.summary,
        # What was done, from the audit trail: never a constant that names steps.
        "done": recorded_steps(req.incidentId),
        "actions": req.actions,
        "notFixed": req.notFixed,
        "details": req.details,
        **({"runbook": req.runbook} if req.runbook else {}),
    }
    for level in levels:
        notify.publish(
            level, subject=f"[selfheal] {req.automation}: {req.outcome}", message=message
        )
    count(f"Outcome{req.outcome.title().replace('_', '')}", automation=req.automation)
    out = {"incidentId": req.incidentId, "outcome": req.outcome, "notified": list(levels)}
    if sent:
        run.record(
            "notify",
            why="told once per execution and outcome",
            result=f"told {', '.join(levels)}",
            details={"key": sent, effects.RETURNED: effects.stored(out)},
        )
    return out
