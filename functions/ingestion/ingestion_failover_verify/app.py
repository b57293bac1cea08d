"""Verify the switch from the rows, after the settle Wait (runbook 004 "Após 5 minutos,
verificar se erros P2002 pararam" for a conflict; "Aguardar 1-2 minutos e verificar dados
chegando" after a failover or a hand-back): since the switch only the kept instance wrote
(the WRITERS document on the database host), data from it arrives, and no instance logged
a new P2002 (the OBSERVE document on each host). FIXED only then; otherwise NOT_FIXED with
what was seen. Changes nothing.

One reading per invocation. While the kept instance has saved no row yet and nothing else
is wrong, the answer is `waiting` (no outcome yet): the workflow waits (`ArrivalWait`) and
asks again, at most `ROUNDS` times; after that, "no data arriving" is NOT_FIXED."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field
from selfheal_shared.core.outcomes import Outcome
from selfheal_shared.core.protocol import Run, remediator
from selfheal_shared.ingestion import ingestion_documents as docs
from selfheal_shared.ingestion import ingestion_instances as inst
from selfheal_shared.ingestion.ingestion_failover import (
    AUTOMATION,
    VERIFY_ROUNDS,
    FailoverIncident,
)

ACTOR = "ingestion_failover_verify"
ROUNDS = VERIFY_ROUNDS


class Check(BaseModel):
    keep: str = Field(pattern=inst.HOST_PATTERN)
    #: The database's time at the end of the switch (as WRITERS printed it).
    since: str = Field(pattern=docs.TIME_PATTERN)
    #: Each reachable instance's P2002 lines at the end of the switch.
    p2002: dict[str, int] = Field(default_factory=dict)


class VerifyRequest(BaseModel):
    incident: FailoverIncident
    check: Check
    #: The readings made before this one.
    round: int = Field(default=0, ge=0, le=ROUNDS)


@remediator(VerifyRequest, actor=ACTOR, automation=AUTOMATION, what="failover check")
def handler(run: Run[VerifyRequest]) -> dict[str, Any]:
    req = run.request
    reg = inst.load(req.incident.group)
    keep = next((i for i in reg.instances if i.name == req.check.keep), None)
    if keep is None:
        return {
            "outcome": Outcome.NOT_FIXED.value,
            "summary": f"{req.check.keep} is no longer registered in {req.incident.group}",
            "waiting": False,
            "round": req.round + 1,
        }
    # The hosts first, the rows last: the rows are read as late as this reading goes.
    observed = [inst.observe(i) for i in reg.instances]
    after = inst.writers(reg.database, req.check.since)
    problem = inst.judge(keep, after, req.check.p2002, {o.name: o.p2002 for o in observed})
    seen = ", ".join(o.describe() for o in observed)
    arriving = bool(after.wrote.get(keep.instanceId))
    others = any(i != keep.instanceId for i in after.wrote)
    before = req.check.p2002
    grew = any(
        o.p2002 is not None and o.name in before and o.p2002 > before[o.name] for o in observed
    )
    if problem and not (arriving or others or grew) and req.round + 1 < ROUNDS:
        # Only "no row from the kept one yet": read again after the workflow's wait.
        return {
            "outcome": None,
            "summary": f"{req.incident.group}: reading {req.round + 1} of {ROUNDS}: {problem}",
            "waiting": True,
            "round": req.round + 1,
        }
    outcome = Outcome.NOT_FIXED if problem else Outcome.FIXED
    fine = (
        f"only {keep.name} ({keep.instanceId}) wrote since the switch, its data arriving, "
        "no new P2002"
    )
    readings = f"reading {req.round + 1} of at most {ROUNDS}"
    run.record(
        "verify_rows",
        why=f"{req.incident.reason}: the switch is done only if the rows say so",
        result=f"{problem or fine}; {seen}",
        outcome=outcome,
        details={
            "writers": after.to_dict(),
            "observed": [o.to_dict() for o in observed],
            "readings": readings,
        },
    )
    if problem:
        counts = ", ".join(
            f"{o.name} {o.p2002} P2002 lines" for o in observed if o.p2002 is not None
        )
        return {
            "outcome": outcome.value,
            "summary": f"{req.incident.group}: {problem} ({readings}); database "
            f"{after.describe()}; {seen}; {counts}",
            "waiting": False,
            "round": req.round + 1,
        }
    return {
        "outcome": outcome.value,
        "summary": f"{req.incident.group}: {fine}; {seen}",
        "waiting": False,
        "round": req.round + 1,
    }
