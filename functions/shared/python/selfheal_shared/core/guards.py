"""Guards every remediator passes before it acts, in this order:

kill switch → maintenance window → dry-run → per-resource cooldown.

State lives in one DynamoDB table so operators can flip it without a deploy
(`selfheal guard ...` locally, or a PutItem in AWS). The cooldown is claimed with a
conditional write, so two concurrent executions cannot both act; the same incident
retrying its claim is let through; another execution for the same incident (a
duplicate event) is skipped as a duplicate, and the action behind the guard is
idempotent on the incident id as a second line of defence.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError

from . import clock
from .clients import client
from .config import settings
from .errors import SelfhealError

KILL_SWITCH = "kill-switch"
DRY_RUN = "dry-run"


@dataclass(frozen=True)
class GuardDecision:
    proceed: bool
    guard: str | None
    reason: str
    dryRun: bool = False

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _get(pk: str) -> dict[str, Any] | None:
    resp = client("dynamodb").get_item(
        TableName=settings().guard_table, Key={"pk": {"S": pk}}, ConsistentRead=True
    )
    item = resp.get("Item")
    return {k: next(iter(v.values())) for k, v in item.items()} if item else None


def _put(item: dict[str, Any]) -> None:
    client("dynamodb").put_item(TableName=settings().guard_table, Item=item)


#: What a silence may cover (runbook 000 §6): the fleet, a site, one alarm of one edge, or
#: an edge (system) id. Named, never a pattern: `site:*` or `*` would silence what nobody
#: chose to.
SILENCE_SCOPE = re.compile(
    r"^(fleet|site:[A-Za-z0-9_-]{1,64}|alarm:[A-Za-z0-9][A-Za-z0-9_-]{0,63}:"
    r"[A-Z][A-Z0-9_]{0,39}|[A-Za-z0-9][A-Za-z0-9_-]{0,63})$"
)


def check_scope(scope: object) -> str:
    """`scope` when it names what a silence may cover, else `ValueError` naming the field."""
    if not isinstance(scope, str) or not SILENCE_SCOPE.fullmatch(scope):
        raise ValueError(
            f"scope: {str(scope)[:80]!r} is not fleet, site:<siteId>, "
            "alarm:<edgeId>:<ALARM_TYPE> or an edge id (no wildcards)"
        )
    return scope


def check_switch_request(actor: object, reason: object, *, enabled: bool = True) -> None:
    """Who turns a switch is kept with it, and why it is turned on: required, `ValueError`
    naming the field otherwise."""
    if not isinstance(actor, str) or not actor.strip():
        raise ValueError("operator: required (who turns the switch), got an empty name")
    if enabled and (not isinstance(reason, str) or not reason.strip()):
        raise ValueError("reason: required (why the switch is turned), got an empty reason")


def set_switch(name: str, *, enabled: bool, reason: str, actor: str) -> None:
    """Turn the global kill switch or dry-run flag on or off, saying who and why."""
    if name not in (KILL_SWITCH, DRY_RUN):
        raise ValueError(f"unknown switch {name!r}")
    check_switch_request(actor, reason, enabled=enabled)
    _put(
        {
            "pk": {"S": name},
            "enabled": {"BOOL": enabled},
            "reason": {"S": reason},
            "actor": {"S": actor},
            "at": {"S": clock.now().isoformat()},
        }
    )


def set_maintenance(scope: str, *, starts: datetime, ends: datetime, reason: str) -> None:
    if not scope or scope in {"*", "all"}:
        raise ValueError("maintenance scope must name a resource or be 'global'")
    if ends <= starts:
        raise ValueError("maintenance window ends before it starts")
    _put(
        {
            "pk": {"S": f"maintenance#{scope}"},
            "startsAt": {"S": starts.isoformat()},
            "endsAt": {"S": ends.isoformat()},
            "reason": {"S": reason},
            "endsEpoch": {"N": str(int(ends.timestamp()))},
            "ttl": {"N": str(int(ends.timestamp()) + 86400)},
        }
    )


class MaintenanceConflict(SelfhealError):
    """Another maintenance window is in force or planned for the scope: never overwritten."""


def plan_maintenance(
    scope: str, *, starts: datetime, ends: datetime, reason: str, window_id: str
) -> dict[str, Any]:
    """Put a planned window in the one calendar, by a conditional write: only when the scope
    has no window, or only one already over, or this very window (a retry: idempotent).
    A window in force or planned for the scope is never overwritten, shortened or ended:
    `MaintenanceConflict` names it (the workflow pages). Scopes are named, never `*`."""
    if not scope or scope in {"*", "all", "global"}:
        raise ValueError("maintenance scope must name one system, not everything")
    if ends <= starts:
        raise ValueError("maintenance window ends before it starts")
    now = clock.now()
    try:
        client("dynamodb").put_item(
            TableName=settings().guard_table,
            Item={
                "pk": {"S": f"maintenance#{scope}"},
                "startsAt": {"S": starts.isoformat()},
                "endsAt": {"S": ends.isoformat()},
                "endsEpoch": {"N": str(int(ends.timestamp()))},
                "reason": {"S": reason},
                "windowId": {"S": window_id},
                "plannedAt": {"S": now.isoformat()},
                "ttl": {"N": str(int(ends.timestamp()) + 86400)},
            },
            ConditionExpression=("attribute_not_exists(pk) OR endsEpoch <= :now OR windowId = :me"),
            ExpressionAttributeValues={
                ":now": {"N": str(int(now.timestamp()))},
                ":me": {"S": window_id},
            },
        )
    except ClientError as exc:
        if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
            raise
        held = _get(f"maintenance#{scope}") or {}
        raise MaintenanceConflict(
            f"{scope} already has a maintenance window {held.get('startsAt')} to "
            f"{held.get('endsAt')} ({held.get('reason', 'no reason recorded')}); "
            "not overwritten: plan this one after it or end that one first"
        ) from None
    return {"scope": scope, "startsAt": starts.isoformat(), "endsAt": ends.isoformat()}


#: Guard-state key prefixes of the two things that stand automation down for a scope:
#: planned maintenance windows and silences (runbook 000 §6). Separate records, so a
#: silence never overwrites (shortens, or ends) a maintenance window.
QUIET_KINDS = {"maintenance": "maintenance_window", "silence": "silence"}
#: What may hold back a safety action (the over-temperature stop, runbook 000 §5a "Sistema
#: já deve ter parado"): neither quiet kind. A silence holds pages and non-safety
#: automation only (§6), and a planned maintenance window is the same intent under another
#: name; stopping is the safe direction whoever is working on the system. Only the
#: operators' kill switch and dry-run ("automation does not act") hold it, and the
#: workflow then pages at once that the system was not stopped.
SAFETY_QUIET_KINDS: tuple[str, ...] = ()


def _kinds(safety: bool) -> tuple[str, ...]:
    return SAFETY_QUIET_KINDS if safety else tuple(QUIET_KINDS)


def silence(scope: str, *, minutes: int, reason: str) -> dict[str, Any]:
    """A silence (runbook 000 §6): no automated action and no page for the scope until it
    expires by itself. Scopes (`SILENCE_SCOPE`): an edge id, `site:<id>`,
    `alarm:<edgeId>:<TYPE>`, or `fleet`."""
    check_scope(scope)
    if not 1 <= minutes <= 7 * 24 * 60:
        raise ValueError("durationMinutes: must be between 1 and 10080 (one week)")
    if not isinstance(reason, str) or not reason.strip():
        raise ValueError("reason: required (why the scope is silenced)")
    now = clock.now()
    ends = now + timedelta(minutes=minutes)
    _put(
        {
            "pk": {"S": f"silence#{scope}"},
            "startsAt": {"S": now.isoformat()},
            "endsAt": {"S": ends.isoformat()},
            "reason": {"S": reason},
            "ttl": {"N": str(int(ends.timestamp()) + 86400)},
        }
    )
    return {"scope": scope, "until": ends.isoformat(), "reason": reason}


def _quiet_keys(scopes: list[str], kinds: tuple[str, ...] = tuple(QUIET_KINDS)) -> list[str]:
    return [f"{kind}#{scope}" for scope in scopes for kind in kinds]


def _covering(
    items: dict[str, dict[str, Any]],
    scopes: list[str],
    kinds: tuple[str, ...] = tuple(QUIET_KINDS),
) -> dict[str, Any] | None:
    """The first maintenance window or silence in force over these scopes, with its scope
    and its guard name; the one that lasts longest when several cover the same scope."""
    now = clock.now()
    for scope in scopes:
        live = [
            {"scope": scope, "kind": kind, "guard": guard, **item}
            for kind, guard in QUIET_KINDS.items()
            if kind in kinds
            and (item := items.get(f"{kind}#{scope}"))
            and datetime.fromisoformat(item["startsAt"])
            <= now
            < datetime.fromisoformat(item["endsAt"])
        ]
        if live:
            return max(live, key=lambda w: datetime.fromisoformat(w["endsAt"]))
    return None


def silenced(
    scopes: list[str], kinds: tuple[str, ...] = tuple(QUIET_KINDS)
) -> dict[str, Any] | None:
    """The silence or maintenance window covering any of these scopes (or everything);
    only those of `kinds` (`"silence"`, `"maintenance"`) when given."""
    if not kinds:
        return None  # nothing to look for: no empty BatchGetItem (AWS refuses one)
    scoped = [*scopes, "global"]
    return _covering(_batch_get(_quiet_keys(scoped, kinds)), scoped, kinds)


def _batch_get(pks: list[str]) -> dict[str, dict[str, Any]]:
    """Several guard items in one consistent round trip (the pre-action check runs often)."""
    table = settings().guard_table
    keys = [{"pk": {"S": pk}} for pk in dict.fromkeys(pks)]
    found: dict[str, dict[str, Any]] = {}
    request: dict[str, Any] = {table: {"Keys": keys, "ConsistentRead": True}}
    while request:
        resp = client("dynamodb").batch_get_item(RequestItems=request)
        for item in resp.get("Responses", {}).get(table, []):
            row = {k: next(iter(v.values())) for k, v in item.items()}
            found[str(row["pk"])] = row
        request = resp.get("UnprocessedKeys") or {}
    return found


def before_action(
    resource: str,
    *,
    scopes: tuple[str, ...] = (),
    dry_run_requested: bool = False,
    safety: bool = False,
) -> GuardDecision:
    """The switches read again right before an action: a kill switch, dry-run or silence
    set after the workflow's guard step stops the very next action, not the next incident.
    (Cooldown and duplicates were claimed once, by the guard step.) A `safety` action is
    never held by a silence or a maintenance window (`SAFETY_QUIET_KINDS`)."""
    if not resource or resource in {"*", "all"}:
        raise ValueError("an action needs one named target; empty or wildcard targets are refused")
    scoped = [resource, *scopes, "global"]
    kinds = _kinds(safety)
    items = _batch_get([KILL_SWITCH, DRY_RUN, *_quiet_keys(scoped, kinds)])
    kill = items.get(KILL_SWITCH)
    if kill and kill.get("enabled"):
        return GuardDecision(False, "kill_switch", _kill_reason(kill))
    if window := _covering(items, scoped, kinds):
        return _quiet_decision(window)
    dry = items.get(DRY_RUN)
    if dry_run_requested or settings().dry_run or (dry and dry.get("enabled")):
        return GuardDecision(False, "dry_run", "dry-run: recording what would happen", dryRun=True)
    return GuardDecision(True, None, "all guards passed")


def _kill_reason(kill: dict[str, Any]) -> str:
    """Why the kill switch refused, as its record says: its reason, who turned it on and
    when (a switch put by hand, e.g. `aws dynamodb put-item`, may carry none of them)."""
    reason = str(kill.get("reason") or "").strip() or "no reason recorded"
    by = f"by {kill['actor']}" if kill.get("actor") else "by an unnamed operator"
    return f"kill switch on: {reason} ({by}" + (f", {kill['at']})" if kill.get("at") else ")")


def _quiet_decision(window: dict[str, Any]) -> GuardDecision:
    what = "silenced" if window["kind"] == "silence" else "maintenance window"
    return GuardDecision(
        False,
        window["guard"],
        f"{what} on {window['scope']} until {window['endsAt']}: {window.get('reason', '')}",
    )


def _switch_on(name: str) -> dict[str, Any] | None:
    item = _get(name)
    return item if item and item.get("enabled") else None


def switches_on() -> list[str]:
    """The operators' switches that hold every action now, each as its reason (kill switch,
    dry-run): for a read-only step that runs anyway and must say so."""
    out = []
    if kill := _switch_on(KILL_SWITCH):
        out.append(_kill_reason(kill))
    if settings().dry_run or _switch_on(DRY_RUN):
        out.append("dry-run on: actions are recorded, not taken")
    return out


def _claim_cooldown(
    automation: str,
    resource: str,
    incident_id: str,
    execution_id: str,
    minutes: int,
    now: datetime,
) -> dict[str, Any] | None:
    """Claim the cooldown; return the holder's record when another execution holds it."""
    expires = now + timedelta(minutes=minutes)
    try:
        client("dynamodb").put_item(
            TableName=settings().guard_table,
            Item={
                "pk": {"S": f"cooldown#{automation}#{resource}"},
                "incidentId": {"S": incident_id},
                "executionId": {"S": execution_id},
                "expiresAt": {"N": str(int(expires.timestamp()))},
                "ttl": {"N": str(int(expires.timestamp()))},
            },
            ConditionExpression=(
                "attribute_not_exists(pk) OR expiresAt <= :now OR executionId = :me"
            ),
            ExpressionAttributeValues={
                ":now": {"N": str(int(now.timestamp()))},
                ":me": {"S": execution_id},
            },
        )
        return None
    except ClientError as exc:
        if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
            raise
    return _get(f"cooldown#{automation}#{resource}") or {"incidentId": "unknown"}


def evaluate(
    *,
    automation: str,
    resource: str,
    incident_id: str,
    execution_id: str,
    cooldown_minutes: int,
    dry_run_requested: bool = False,
    scopes: tuple[str, ...] = (),
    safety: bool = False,
) -> GuardDecision:
    """The guard step's decision; a `safety` action is never held by a silence or a
    maintenance window (`SAFETY_QUIET_KINDS`)."""
    if not resource or resource in {"*", "all"}:
        raise ValueError("guards need one named resource; empty or wildcard targets are refused")
    now = clock.now()
    if kill := _switch_on(KILL_SWITCH):
        return GuardDecision(False, "kill_switch", _kill_reason(kill))
    if window := silenced([resource, *scopes], _kinds(safety)):
        return _quiet_decision(window)
    if dry_run_requested or settings().dry_run or _switch_on(DRY_RUN):
        return GuardDecision(False, "dry_run", "dry-run: recording what would happen", dryRun=True)
    holder = _claim_cooldown(automation, resource, incident_id, execution_id, cooldown_minutes, now)
    if holder is not None and holder.get("incidentId") == incident_id:
        return GuardDecision(
            False,
            "duplicate",
            f"duplicate event: incident {incident_id} is already handled by "
            f"{holder.get('executionId')}",
        )
    if holder is not None:
        return GuardDecision(
            False,
            "cooldown",
            f"{automation} already acted on {resource} in the last {cooldown_minutes} min "
            f"(incident {holder.get('incidentId')})",
        )
    return GuardDecision(True, None, "all guards passed")
