"""Carry out a cost hygiene plan (runbook 001 "Gestão de Custos", D6), each change through
`Run.act` (guards read again, intent, act, verify, record): delete the old Lambda versions,
set the retention of log groups that have none, merge the raw bucket's lifecycle rules.
What protects a version (an alias, a CodeDeploy deployment) and whether a log group still
has no retention are read again right before acting. One failed change does not stop the
others; the outcome counts only what was done and verified."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, Field
from selfheal_shared.core.errors import GuardRefused, Transient, bounded
from selfheal_shared.core.outcomes import Outcome
from selfheal_shared.core.protocol import Run, remediator
from selfheal_shared.platform import cost_hygiene as ch
from selfheal_shared.platform import cost_hygiene_aws as aws
from selfheal_shared.platform import maintenance_window as mw


class Version(BaseModel):
    function: str = Field(min_length=1)
    version: str = Field(pattern=r"^[0-9]+$")


class Lifecycle(BaseModel):
    bucket: str = Field(min_length=3)
    rules: list[str] = Field(default_factory=list)


class ApplyRequest(BaseModel):
    incidentId: str = Field(min_length=1)
    executionId: str = Field(min_length=1)
    versions: list[Version] = Field(default_factory=list)
    logGroups: list[str] = Field(default_factory=list)
    retentionDays: int = Field(ge=1)
    lifecycle: Lifecycle
    #: What the plan keeps whatever its age (an alias, a deployment), for the report.
    kept: list[str] = Field(default_factory=list)
    #: What the plan could not decide safely (a deployment whose versions are unreadable):
    #: left for people, so the run is not FIXED.
    withheld: list[str] = Field(default_factory=list)
    #: Changes the plan left for the next run (the per-run cap), for the report.
    left: int = Field(default=0, ge=0)


@dataclass
class Tally:
    deleted: list[str] = field(default_factory=list)
    retention: list[str] = field(default_factory=list)
    rules: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    #: Targets already gone when this run came to them (another run or a person).
    gone: list[str] = field(default_factory=list)
    left: int = 0
    refused: dict[str, Any] | None = None


class Refused(Exception):
    """A guard refused mid-run: nothing more is attempted."""


@remediator(
    ApplyRequest,
    actor="cost_hygiene_apply",
    automation=ch.AUTOMATION,
    what="cost hygiene plan",
    scopes=mw.calendar_scopes,
)
def handler(run: Run[ApplyRequest]) -> dict[str, Any]:
    req = run.request
    tally = Tally(kept=list(req.kept), failed=list(req.withheld), left=req.left)
    try:
        _versions(run, req.versions, tally)
        for group in req.logGroups:
            _step(run, tally, f"log group {group}", lambda g=group: _retention(run, g, tally))
        if req.lifecycle.rules:
            _step(run, tally, f"bucket {req.lifecycle.bucket}", lambda: _lifecycle(run, tally))
    except Refused:
        pass
    return _outcome(tally)


def _step(run: Run[ApplyRequest], tally: Tally, what: str, fn: Any) -> None:
    try:
        fn()
    except GuardRefused as exc:
        guard = str(exc).split(":", 1)[0]
        tally.refused = {"proceed": False, "guard": guard, "reason": bounded(str(exc))}
        raise Refused from exc
    except Transient:
        # Throttled, or unknown whether it landed: the step is retried (Apply's Retry), and
        # what this attempt did comes back from its records, never done twice.
        raise
    except Exception as exc:  # one failed change is reported, the others still run
        problem = bounded(f"{type(exc).__name__}: {exc}")
        tally.failed.append(f"{what}: {problem}")
        run.record(
            "cost_hygiene_failed",
            why=f"{what} could not be changed",
            result=f"FAILED: {problem}",
            outcome=Outcome.FAILED,
            details={"target": what},
        )


def _versions(run: Run[ApplyRequest], versions: list[Version], tally: Tally) -> None:
    if not versions:
        return
    # Read again right before deleting: a deployment or an alias may have arrived since.
    deployed, unreadable = aws.deployed()
    if unreadable:
        tally.failed.append("Lambda versions: a deployment's versions are unreadable, none deleted")
        run.record(
            "delete_lambda_version",
            why="; ".join(unreadable),
            result="not done: a CodeDeploy deployment does not say which versions it uses",
            outcome=Outcome.NOT_FIXED,
        )
        return
    mappings = aws.mapped()
    aliases: dict[str, dict[str, str]] = {}
    for item in versions:
        fn, v = item.function, item.version
        if fn not in aliases:
            aliases[fn] = aws.aliased(fn)
        why_kept = aliases[fn].get(v) or deployed.get((fn, v)) or mappings.get((fn, v))
        if why_kept:
            tally.kept.append(f"{fn}:{v} ({why_kept})")
            run.record(
                "delete_lambda_version",
                why=f"{fn}:{v} is now {why_kept}",
                result=f"kept {fn}:{v}: in use since the plan",
                details={"target": f"{fn}:{v}"},
            )
            continue
        _step(run, tally, f"{fn}:{v}", lambda fn=fn, v=v: _delete(run, fn, v, tally))


def _delete(run: Run[ApplyRequest], fn: str, v: str, tally: Tally) -> None:
    if not run.begun("delete_lambda_version", f"{fn}:{v}") and aws.version_gone(fn, v):
        _gone(run, tally, "delete_lambda_version", f"{fn}:{v}")
        return

    def gone(_key: str) -> dict[str, str] | None:
        return {"function": fn, "version": v} if aws.version_gone(fn, v) else None

    def do(_key: str) -> dict[str, str]:
        by = "this run" if aws.delete_version(fn, v) else "already gone"
        return {"function": fn, "version": v, "by": by}

    done = run.act(
        "delete_lambda_version",
        target=f"{fn}:{v}",
        why=f"older than the last {ch.config().lambdaVersions.keep_for(fn)} versions of {fn}, "
        "behind no alias and named by no CodeDeploy deployment",
        plan=f"delete {fn}:{v}",
        do=do,
        landed=gone,
        inverse={
            "action": "lambda:PublishVersion",
            "function": fn,
            "note": "a deleted version cannot be restored: publish its code again",
        },
        result=lambda d: (
            f"deleted {fn}:{v} (verified gone)"
            if d.get("by", "this run") == "this run"
            else f"{fn}:{v} already gone when deleted: not deleted by this run"
        ),
        verify=lambda _: None if aws.version_gone(fn, v) else f"{fn}:{v} is still there",
    )
    if done.get("by", "this run") == "this run":
        tally.deleted.append(f"{fn}:{v}")
    else:
        tally.gone.append(f"{fn}:{v}")


def _gone(run: Run[ApplyRequest], tally: Tally, action: str, target: str) -> None:
    """A planned target no longer there: what the run wanted is so, but not by its hand."""
    tally.gone.append(target)
    run.record(
        action,
        why=f"{target} was in the plan and is gone now (another run or a person removed it)",
        result=f"{target} already gone: nothing done",
        details={"target": target},
    )


def _retention(run: Run[ApplyRequest], group: str, tally: Tally) -> None:
    days = run.request.retentionDays
    try:
        current = aws.retention_of(group)
    except LookupError:
        _gone(run, tally, "put_log_retention", group)
        return
    if current is not None and not run.begun("put_log_retention", group):
        tally.kept.append(f"{group} ({current} days, set since the plan)")
        run.record(
            "put_log_retention",
            why=f"{group} has a {current}-day retention now; an existing one is never changed",
            result=f"kept {group} at {current} days",
            details={"target": group},
        )
        return

    def landed(_key: str) -> int | None:
        return days if aws.retention_of(group) == days else None

    def do(_key: str) -> int:
        aws.put_retention(group, days)
        return days

    run.act(
        "put_log_retention",
        target=group,
        why=f"{group} kept its events forever (no retention)",
        plan=f"set {days}-day retention on {group}",
        do=do,
        landed=landed,
        inverse={"action": "logs:DeleteRetentionPolicy", "logGroupName": group},
        result=f"{group}: retention {days} days (verified)",
        verify=lambda _: (
            None if aws.retention_of(group) == days else f"{group} does not show {days} days"
        ),
    )
    tally.retention.append(group)


def _lifecycle(run: Run[ApplyRequest], tally: Tally) -> None:
    cfg = ch.config().rawBucket
    bucket = run.request.lifecycle.bucket
    # Read again: never clobber a rule added since, nor the bucket's minimum object size.
    before, min_size = aws.lifecycle(bucket)
    merged, changed = ch.merge_rules(before, cfg.rules)
    if not changed and not run.begun("put_lifecycle_rules", bucket):
        run.record(
            "put_lifecycle_rules",
            why="the configured rules are already on the bucket",
            result=f"{bucket}: nothing to change",
            details={"target": bucket},
        )
        return
    others = [str(r.get("ID")) for r in before if str(r.get("ID")) not in {*changed}]

    def problem(_: Any = None) -> str | None:
        now = {str(r.get("ID")): r for r in aws.lifecycle_rules(bucket)}
        missing = [rid for rid in others if rid not in now]
        wrong = [str(r["ID"]) for r in cfg.rules if not ch.within(r, now.get(str(r["ID"])))]
        if missing or wrong:
            return f"rules lost {missing}, rules not as configured {wrong}"
        return None

    def do(_key: str) -> list[str]:
        aws.put_lifecycle_rules(bucket, merged, min_size)
        return changed

    put = run.act(
        "put_lifecycle_rules",
        target=bucket,
        why="the raw bucket's configured lifecycle rules (config/cost_hygiene.json) were "
        "missing or different",
        plan=f"put rules {', '.join(changed)} on {bucket}, keeping {', '.join(others) or 'none'}",
        do=do,
        # Nothing changed now after a retry: the recorded value says what this run put.
        landed=lambda _key: None if problem() or not changed else changed,
        inverse=(
            {
                "action": "s3:PutBucketLifecycleConfiguration",
                "rules": before,
                "transitionDefaultMinimumObjectSize": min_size,
            }
            if before
            # AWS rejects a configuration with no rules: the bucket had none, so none again.
            else {"action": "s3:DeleteBucketLifecycle", "bucket": bucket}
        ),
        result=f"{bucket}: rules {', '.join(changed)} in place, "
        f"{len(others)} other rules kept (verified)",
        verify=problem,
    )
    tally.rules += put


def _outcome(t: Tally) -> dict[str, Any]:
    done = (
        [f"deleted {len(t.deleted)} Lambda versions (verified gone): {', '.join(t.deleted)}"]
        if t.deleted
        else []
    )
    if t.retention:
        done.append(f"set retention on {len(t.retention)} log groups: {', '.join(t.retention)}")
    if t.rules:
        done.append(f"put lifecycle rules {', '.join(t.rules)}")
    if t.gone:
        done.append(f"already gone before this run reached them: {', '.join(t.gone)}")
    if t.left:
        done.append(f"{t.left} more changes left for the next run")
    if t.refused is not None:
        outcome = Outcome.SKIPPED_BY_GUARD
        head = f"stopped by the {t.refused['guard']} guard"
    elif t.failed:
        outcome = Outcome.NOT_FIXED
        head = f"{len(t.failed)} changes failed or withheld: {'; '.join(t.failed)}"
    elif t.deleted or t.retention or t.rules or t.gone:
        outcome, head = Outcome.FIXED, "cost hygiene done"
    else:
        outcome, head = Outcome.NO_ACTION_NEEDED, "nothing left to change"
    summary = "; ".join([head, *done] + ([f"kept: {', '.join(t.kept)}"] if t.kept else []))
    return {
        "outcome": outcome.value,
        "summary": summary,
        "counts": {
            "versionsDeleted": len(t.deleted),
            "logGroupsRetained": len(t.retention),
            "lifecycleRulesPut": len(t.rules),
            "failed": len(t.failed),
            "alreadyGone": len(t.gone),
            "left": t.left,
        },
        "deleted": t.deleted,
        "logGroups": t.retention,
        "failed": t.failed,
        "gone": t.gone,
        "guard": t.refused or {"proceed": True},
    }
