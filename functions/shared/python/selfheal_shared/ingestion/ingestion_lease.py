"""The single-active ingestion lease (runbook 004: "Evitar 2 instâncias em production
simultaneamente"): one record per ingestion group names the instance allowed to be in
production, with a fencing token and an expiry on the (virtual) clock.

- `take` is one conditional write: it succeeds only on a free or expired lease, or over the
  exact token the caller saw (a takeover decided on evidence). Concurrent takers race on
  the same condition, so at most one wins; every takeover increments the token.
- `confirm` is the fence: before each action a holder proves, with a conditional write,
  that its token is still the current one and not expired. A holder that stalled past the
  expiry, or was taken over, gets `LeaseLost` and must not act. The hosts do not see the
  token: a command sent just before the lease was lost still runs there. What stops a second
  writer whatever the hosts do is the database fence (`ingestion_documents.fence`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError

from ..core import clock
from ..core.clients import client
from ..core.config import settings
from ..core.errors import ConcurrentChange

#: Three missed 5-minute checks (runbook 004: "Interval: 5 minutes").
LEASE_MINUTES = 15


class LeaseLost(ConcurrentChange):
    """The lease moved on (taken over, or expired): the caller must not act on it."""


@dataclass(frozen=True)
class Lease:
    group: str
    holder: str
    token: int
    expires_at: datetime

    def valid(self, now: datetime) -> bool:
        return now < self.expires_at

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> Lease:
        return cls(
            group=str(raw["group"]),
            holder=str(raw["holder"]),
            token=int(raw["token"]),
            expires_at=datetime.fromisoformat(str(raw["expiresAt"])),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "group": self.group,
            "holder": self.holder,
            "token": self.token,
            "expiresAt": self.expires_at.isoformat(),
        }


def from_item(group: str, item: dict[str, Any]) -> Lease | None:
    """The lease a DynamoDB item describes (None for no item)."""
    if not item:
        return None
    return Lease(
        group=group,
        holder=item["holder"]["S"],
        token=int(item["token"]["N"]),
        expires_at=datetime.fromtimestamp(int(item["expiresAt"]["N"]), tz=UTC),
    )


def switched(group: str) -> tuple[datetime, str] | None:
    """When a failover run last moved the lease, and its incident (None: never)."""
    item = (
        client("dynamodb")
        .get_item(TableName=settings().guard_table, Key=_key(group), ConsistentRead=True)
        .get("Item", {})
    )
    if "switchedAt" not in item:
        return None
    return datetime.fromisoformat(item["switchedAt"]["S"]), item["switchedBy"]["S"]


def holder_of(lease: Lease | None, now: datetime) -> str | None:
    """Who may be in production now: nobody once the lease expired."""
    return lease.holder if lease is not None and lease.valid(now) else None


def _key(group: str) -> dict[str, Any]:
    return {"pk": {"S": f"ingestion-lease#{group}"}}


def read(group: str) -> Lease | None:
    item = (
        client("dynamodb")
        .get_item(TableName=settings().guard_table, Key=_key(group), ConsistentRead=True)
        .get("Item", {})
    )
    return from_item(group, item)


def take(
    group: str,
    holder: str,
    *,
    over: int | None = None,
    minutes: int = LEASE_MINUTES,
    incident: str | None = None,
) -> Lease:
    """Take the lease for `holder`: free, expired, or (with `over`) still at the token the
    caller decided on. Raises `LeaseLost` when someone else got there first. A failover
    run names its `incident`: the switch's time and incident are kept on the lease
    (`switched`), what the hand-back cooldown counts from."""
    now = clock.now()
    expires = now + timedelta(minutes=minutes)
    condition = "attribute_not_exists(pk) OR expiresAt <= :now"
    values: dict[str, Any] = {
        ":me": {"S": holder},
        ":now": {"N": str(int(now.timestamp()))},
        ":exp": {"N": str(int(expires.timestamp()))},
        ":one": {"N": "1"},
        ":since": {"S": now.isoformat()},
    }
    if over is not None:
        condition += " OR #token = :over"
        values[":over"] = {"N": str(over)}
    update = "SET holder = :me, expiresAt = :exp, since = :since"
    if incident is not None:
        update += ", switchedAt = :since, switchedBy = :inc"
        values[":inc"] = {"S": incident}
    try:
        resp = client("dynamodb").update_item(
            TableName=settings().guard_table,
            Key=_key(group),
            UpdateExpression=f"{update} ADD #token :one",
            ConditionExpression=condition,
            ExpressionAttributeNames={"#token": "token"},
            ExpressionAttributeValues=values,
            ReturnValues="ALL_NEW",
        )
    except ClientError as exc:
        if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
            raise
        current = read(group)
        raise LeaseLost(
            f"lease {group} not taken for {holder}: held by "
            f"{current.holder if current else 'nobody'} (token "
            f"{current.token if current else '-'}) until "
            f"{current.expires_at.isoformat() if current else '-'}"
        ) from None
    lease = from_item(group, resp["Attributes"])
    assert lease is not None
    return lease


def confirm(lease: Lease, *, minutes: int = LEASE_MINUTES) -> Lease:
    """The fence before an action: renew only if `lease` is still current and unexpired."""
    now = clock.now()
    expires = now + timedelta(minutes=minutes)
    try:
        client("dynamodb").update_item(
            TableName=settings().guard_table,
            Key=_key(lease.group),
            UpdateExpression="SET expiresAt = :exp",
            ConditionExpression="holder = :me AND #token = :tok AND expiresAt > :now",
            ExpressionAttributeNames={"#token": "token"},
            ExpressionAttributeValues={
                ":me": {"S": lease.holder},
                ":tok": {"N": str(lease.token)},
                ":now": {"N": str(int(now.timestamp()))},
                ":exp": {"N": str(int(expires.timestamp()))},
            },
        )
    except ClientError as exc:
        if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
            raise
        raise LeaseLost(
            f"lease {lease.group} token {lease.token} of {lease.holder} is no longer current "
            "(expired or taken over): not acting on it"
        ) from None
    return Lease(lease.group, lease.holder, lease.token, expires)
