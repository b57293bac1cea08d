"""Put exactly one ingestion instance in production, under the lease (runbook 004: "Evitar
2 instâncias em production simultaneamente"; "Apenas 1 instância deve estar em
production!").

Takes (or renews) the lease for the instance the survey chose, over the token the survey
saw, so a concurrent run or a holder that changed since makes this one stop. Then, each
step fenced by the lease: switch the kept instance to production, and every other instance
that reports production to standby. Each switch is verified by reading the instance's
mode back; FIXED only when exactly one instance reports production and it holds the lease.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field
from selfheal_shared.core import clock, run_command
from selfheal_shared.core.errors import NothingFound
from selfheal_shared.core.outcomes import Outcome
from selfheal_shared.core.protocol import Run, remediator
from selfheal_shared.ingestion import ingestion_instances as inst
from selfheal_shared.ingestion import ingestion_lease
from selfheal_shared.ingestion.ingestion_failover import AUTOMATION, FailoverIncident
from selfheal_shared.ingestion.ingestion_lease import Lease

ACTOR = "ingestion_failover_apply"


class ApplyRequest(BaseModel):
    incident: FailoverIncident
    keep: str = Field(min_length=1)
    #: The lease token the survey saw (None: no lease yet).
    leaseToken: int | None = None


def _lease(run: Run[ApplyRequest], keep: inst.Instance) -> Lease:
    req = run.request
    group = req.incident.group
    current = ingestion_lease.read(group)
    if (
        current is not None
        and current.holder == keep.name
        and current.valid(clock.now())
        and current.token == req.leaseToken
    ):
        return run.act(
            "renew_lease",
            target=f"{group}/{keep.name}",
            why=f"{keep.name} already holds the lease; renewed before acting under it",
            plan=f"renew lease {group} for {keep.name} (token {current.token})",
            do=lambda _key: ingestion_lease.confirm(current),
            landed=lambda _key: None,  # renewing again is the same renewal (same token)
            load=Lease.from_dict,
            inverse={"api": "none", "why": "the lease expires on its own"},
            result=lambda lease: (
                f"lease {group} renewed for {keep.name} (token {lease.token}, "
                f"until {lease.expires_at.isoformat()})"
            ),
        )
    previous = f"{current.holder} (token {current.token})" if current else "nobody"
    return run.act(
        "take_lease",
        target=f"{group}/{keep.name}",
        why=f"{req.incident.reason}: {keep.name} is the instance to keep in production "
        f"(lease was {previous})",
        plan=f"take lease {group} for {keep.name} over token {req.leaseToken}",
        do=lambda _key: ingestion_lease.take(group, keep.name, over=req.leaseToken),
        landed=lambda _key: _held(group, keep.name, above=req.leaseToken or 0),
        load=Lease.from_dict,
        inverse={"api": "none", "why": "the lease expires on its own"},
        result=lambda lease: (
            f"lease {group} taken by {keep.name} (token {lease.token}, was {previous})"
        ),
    )


def _held(group: str, holder: str, *, above: int) -> Lease | None:
    """The lease as a landed take or renewal left it: `holder` holds it, valid, with a
    token above the one it was taken over."""
    lease = ingestion_lease.read(group)
    if lease is None or lease.holder != holder or lease.token <= above:
        return None
    return lease if lease.valid(clock.now()) else None


def _switch(
    run: Run[ApplyRequest], lease: Lease, instance: inst.Instance, mode: inst.Mode, why: str
) -> dict[str, Any]:
    group = run.request.incident.group
    undo: inst.Mode = inst.STANDBY if mode == inst.PRODUCTION else inst.PRODUCTION

    def do(key: str) -> str:
        ingestion_lease.confirm(lease)  # the fence: a lost lease stops here, before acting
        return inst.set_mode(instance, mode, lease.token, key)

    def switched(key: str) -> str | None:
        """The command sent under `key` ran and the instance reports the mode."""
        if run_command.sent(key) is None:
            return None
        seen = inst.observe(instance)
        return seen.mode if seen.mode == mode else None

    def verify(_: str) -> str | None:
        seen = inst.observe(instance)
        return None if seen.mode == mode else f"{instance.name} reports {seen.mode or seen.error}"

    action = "promote_instance" if mode == inst.PRODUCTION else "demote_instance"
    text = f"{instance.name} switched to {mode} under lease token {lease.token} (verified)"
    run.act(
        action,
        target=f"{group}/{instance.name}",
        why=why,
        plan=f"switch {instance.name} to {mode} under lease token {lease.token}",
        do=do,
        landed=switched,
        verify=verify,
        inverse={"api": "set_mode", "instance": instance.name, "mode": undo},
        result=text,
    )
    return {"action": action, "changed": True, "result": text}


@remediator(ApplyRequest, actor=ACTOR, automation=AUTOMATION, what="failover plan")
def handler(run: Run[ApplyRequest]) -> dict[str, Any]:
    req = run.request
    group = req.incident.group
    instances = {i.name: i for i in inst.registry(group)}
    if req.keep not in instances:
        raise NothingFound(f"keep: {req.keep!r} is not registered in {group}")
    keep = instances[req.keep]
    lease = _lease(run, keep)
    actions: list[dict[str, Any]] = []
    if inst.observe(keep).mode != inst.PRODUCTION:
        actions.append(
            _switch(
                run,
                lease,
                keep,
                inst.PRODUCTION,
                f"{req.incident.reason}; {keep.name} holds the lease and is not in production",
            )
        )
    # Read again: an instance may have come up in production since the survey.
    for name in inst.demotions([inst.observe(i) for i in instances.values()], keep.name):
        actions.append(
            _switch(
                run,
                lease,
                instances[name],
                inst.STANDBY,
                f"{name} is in production but {keep.name} holds the lease (runbook 004: "
                "apenas 1 instância deve estar em production)",
            )
        )
    observed = [inst.observe(i) for i in instances.values()]
    holder = ingestion_lease.holder_of(ingestion_lease.read(group), clock.now())
    problem = inst.problem(observed, holder)
    done = "; ".join(a["result"] for a in actions) or "no switch needed"
    if problem is None:
        return {
            "outcome": Outcome.FIXED.value,
            "summary": f"{group}: only {keep.name} in production, holding the lease "
            f"(token {lease.token}); {done}",
            "actions": actions,
        }
    return {
        "outcome": Outcome.NOT_FIXED.value,
        "summary": f"{group}: {problem} after: {done}",
        "actions": actions,
    }
