"""Put exactly one ingestion instance in production, under the lease (runbook 004: "Evitar
2 instâncias em production simultaneamente"; "Apenas 1 instância deve estar em
production!").

Takes (or renews) the lease for the instance the survey chose, over the token the survey
saw, so a concurrent run or a holder that changed since makes this one stop. Then, each
step fenced by the lease and read back from the world: every other instance first, one
that answers to development on its host (`.env` + `pm2 restart aupus-api`), one that does
not answer fenced in the database (its role's INSERT revoked: no cooperation needed); only
then the kept one to production and its writes allowed. Each step is verified from what its
own command read back after the change (SetMode: `.env` and the app answering in the mode;
Fence: the role's privilege), so the function's worst case is bounded by the commands' own
timeouts (tests/contract/test_ingestion_timeouts.py). Returns the database's time at the
end of the switch and each instance's P2002 count then: the verification (after the Wait)
reads the rows from there. Nothing is called FIXED here.

A step that fails after others landed (a demotion done, the promotion refused) can leave no
instance in production: the hosts and the database are read again and, when no registered
instance runs in production with its writes allowed, the outcome is NOT_FIXED, "no instance
in production", with what was done and what failed (the workflow pages L1 and L2 at once:
no data is being saved). Otherwise the failure goes on as before (retry, then escalation).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field
from selfheal_shared.core import clock
from selfheal_shared.core.errors import ActionFailed, NothingFound
from selfheal_shared.core.outcomes import Outcome
from selfheal_shared.core.protocol import Run, remediator
from selfheal_shared.ingestion import ingestion_documents as docs
from selfheal_shared.ingestion import ingestion_instances as inst
from selfheal_shared.ingestion import ingestion_lease
from selfheal_shared.ingestion.ingestion_failover import (
    AUTOMATION,
    SETTLE_SECONDS,
    FailoverIncident,
)
from selfheal_shared.ingestion.ingestion_lease import Lease, LeaseLost

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
        do=lambda _key: ingestion_lease.take(
            group, keep.name, over=req.leaseToken, incident=req.incident.incidentId
        ),
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


def _step(
    run: Run[ApplyRequest], lease: Lease, reg: inst.Registry, step: inst.Step
) -> dict[str, Any]:
    group = run.request.incident.group
    instance = next(i for i in reg.instances if i.name == step.name)
    fencing = step.action in ("fence", "unfence")
    document = docs.FENCE if fencing else docs.SET_MODE
    mode: inst.Mode = inst.DEVELOPMENT if step.action == "demote" else inst.PRODUCTION
    allowed = step.action == "unfence"

    def send(key: str) -> dict[str, Any]:
        if fencing:
            return inst.fence(reg.database, instance, step.action, key)
        return inst.set_mode(instance, mode, key)

    def do(key: str) -> str:
        ingestion_lease.confirm(lease)  # the fence: a lost lease stops here, before acting
        done = send(key)
        if done["status"] != "Success":
            raise ActionFailed(
                f"{step.action} {instance.name}: {document} ended {done['status']}: "
                f"{done.get('output', '')}"
            )
        return str(done.get("output", ""))

    def seen(output: str) -> str | None:
        """What the command read back after the change (the role's privilege; `.env` and
        the app's answer), None when it shows the step done."""
        if fencing:
            may, sessions = inst.fenced_to(output)
            if may is not allowed:
                return f"role {instance.role} may INSERT: {may}"
            wrong = sorted(r for r, ok in sessions.items() if ok is not allowed)
            if wrong:
                verb = "may still INSERT" if not allowed else "may not INSERT"
                return (
                    f"{instance.name} ({instance.instanceId}) is connected as "
                    f"{', '.join(wrong)}, which {verb} (the registry names {instance.role})"
                )
            return None
        env, app = inst.switched_to(output)
        return None if (app, env) == (mode, mode) else f"{instance.name}: app {app}, .env {env}"

    def landed(key: str) -> str | None:
        done = inst.sent(key, document)
        if done is None or done["status"] != "Success":
            return None
        output = str(done.get("output", ""))
        return output if seen(output) is None else None

    undo = {"demote": "promote", "promote": "demote", "fence": "unfence", "unfence": "fence"}
    what = {
        "demote": f"{instance.name} to development (.env MQTT_MODE + pm2 restart aupus-api)",
        "promote": f"{instance.name} to production (.env MQTT_MODE + pm2 restart aupus-api)",
        "fence": f"INSERT of role {instance.role} ({instance.name}) revoked in the database",
        "unfence": f"INSERT of role {instance.role} ({instance.name}) granted in the database",
    }[step.action]
    text = f"{what} under lease token {lease.token} (verified)"
    run.act(
        f"{step.action}_instance",
        target=f"{group}/{instance.name}",
        why=f"{run.request.incident.reason}; {step.why}",
        plan=f"{what} under lease token {lease.token}",
        do=do,
        landed=landed,
        verify=seen,
        inverse={
            "api": "ssm:SendCommand",
            "document": document,
            "action": undo[step.action],
            "instance": instance.name,
        },
        result=text,
    )
    return {"action": f"{step.action}_instance", "changed": True, "result": text}


def _in_production(reg: inst.Registry, since: str) -> tuple[list[str], str]:
    """The registered instances in production, read now: running in production (answering,
    MQTT connected) with their role allowed to INSERT, or whose rows arrived since `since`
    (the database's time when this switch began: one that does not answer may still write);
    and what was read."""
    observed = [inst.observe(i) for i in reg.instances]
    roles = {i.name: i.role for i in reg.instances}
    try:
        written = inst.writers(reg.database, since)
        insert, wrote, database = written.insert, written.wrote, written.describe()
    except ConnectionError as exc:  # the database host did not answer: the hosts alone
        insert, wrote, database = {}, {}, f"database not read ({exc})"
    serving = [
        o.name
        for o in observed
        if o.healthy and o.mode == inst.PRODUCTION and insert.get(roles[o.name], True)
    ] + [i.name for i in reg.instances if wrote.get(i.instanceId)]
    return serving, f"{', '.join(o.describe() for o in observed)}; database {database}"


def _nobody_in_production(
    run: Run[ApplyRequest],
    reg: inst.Registry,
    since: str,
    actions: list[dict[str, Any]],
    exc: Exception,
) -> dict[str, Any] | None:
    """After a failed step: NOT_FIXED when no registered instance is left in production
    (read again from the hosts and the database), None when one is."""
    serving, seen = _in_production(reg, since)
    if serving:
        return None
    group = run.request.incident.group
    done = "; ".join(a["result"] for a in actions) or "nothing switched"
    failed = f"{type(exc).__name__}: {exc}"[:400]
    summary = f"{group}: no instance in production after {done}; then {failed}; now: {seen}"
    run.record(
        "no_instance_in_production",
        why=f"{run.request.incident.reason}: a step failed ({failed})",
        result=summary,
        outcome=Outcome.NOT_FIXED,
        details={"done": [a["result"] for a in actions]},
    )
    return {
        "outcome": Outcome.NOT_FIXED.value,
        "summary": summary,
        "actions": actions,
        "check": None,
        "waitSeconds": 0,
    }


@remediator(ApplyRequest, actor=ACTOR, automation=AUTOMATION, what="failover plan")
def handler(run: Run[ApplyRequest]) -> dict[str, Any]:
    req = run.request
    group = req.incident.group
    reg = inst.load(group)
    instances = {i.name: i for i in reg.instances}
    if req.keep not in instances:
        raise NothingFound(f"keep: {req.keep!r} is not registered in {group}")
    keep = instances[req.keep]
    lease = _lease(run, keep)
    # Read again under the lease: an instance may have changed since the survey.
    observed = [inst.observe(i) for i in reg.instances]
    roles = {i.name: i.role for i in reg.instances}
    began = inst.writers(reg.database)
    steps = inst.plan(observed, keep.name, roles, began.insert)
    actions: list[dict[str, Any]] = []
    try:
        for s in steps:
            actions.append(_step(run, lease, reg, s))
    except LeaseLost:
        raise  # another run acts now: the workflow surveys again
    except Exception as exc:
        nobody = _nobody_in_production(run, reg, began.now, actions, exc)
        if nobody is None:
            raise
        return nobody
    after = [inst.observe(i) for i in reg.instances]
    switched = inst.writers(reg.database)
    done = "; ".join(a["result"] for a in actions) or "no switch needed"
    return {
        "outcome": "APPLIED",
        "summary": f"{group}: {keep.name} kept in production under lease token {lease.token}; "
        f"{done}",
        "actions": actions,
        "check": {
            "keep": keep.name,
            "since": switched.now,
            "p2002": {o.name: o.p2002 for o in after if o.p2002 is not None},
        },
        "waitSeconds": SETTLE_SECONDS[req.incident.trigger],
    }
