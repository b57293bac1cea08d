"""One page chain per incident: who was paged when, who acknowledged, and the resolve.

A page is published first and marked paged after: a crash between the two pages again (the
same deduplication key, so a paging service shows one alert), never loses a page.

The chain lives in the guard-state table (`page-chain#<incidentId>`), the table operators
already write (silences, the kill switch), so `selfheal ack` works the same against AWS and
against `selfheal serve`. Every change is a conditional write: a level is paged once, an
acknowledgement is kept once (the first one wins and is never overwritten), and the resolve
goes out once, to every level that was paged. The incident id is the chain's deduplication
key (paging services collapse pages carrying the same key into one alert).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from . import audit, clock, escalation_policy, notify, post_incident
from .clients import client
from .config import settings

PREFIX = "page-chain#"


@dataclass(frozen=True)
class Chain:
    incidentId: str
    system: str
    severity: str
    startedAt: str
    #: level → when it was paged.
    paged: dict[str, str] = field(default_factory=dict)
    acknowledgedBy: str | None = None
    acknowledgedAt: str | None = None
    resolvedAt: str | None = None

    @property
    def dedup_key(self) -> str:
        return self.incidentId

    def minutes(self, now: datetime | None = None) -> float:
        began = datetime.fromisoformat(self.startedAt)
        return ((now or clock.now()) - began).total_seconds() / 60

    def due(self, now: datetime | None = None) -> escalation_policy.Due:
        """Who the policy pages now; nobody once acknowledged or resolved."""
        if self.resolvedAt:
            return escalation_policy.Due(None, None)
        return escalation_policy.due(
            escalation_policy.load(self.system),
            self.severity,
            self.minutes(now),
            set(self.paged),
            acknowledged=self.acknowledgedBy is not None,
        )


def _key(incident_id: str) -> dict[str, Any]:
    return {"pk": {"S": PREFIX + incident_id}}


def _decode(item: dict[str, Any]) -> Chain:
    return Chain(
        incidentId=item["incidentId"]["S"],
        system=item["system"]["S"],
        severity=item["severity"]["S"],
        startedAt=item["startedAt"]["S"],
        paged={k: v["S"] for k, v in item.get("paged", {}).get("M", {}).items()},
        acknowledgedBy=item.get("acknowledgedBy", {}).get("S"),
        acknowledgedAt=item.get("acknowledgedAt", {}).get("S"),
        resolvedAt=item.get("resolvedAt", {}).get("S"),
    )


def get(incident_id: str) -> Chain | None:
    item = (
        client("dynamodb")
        .get_item(TableName=settings().guard_table, Key=_key(incident_id), ConsistentRead=True)
        .get("Item")
    )
    return _decode(item) if item else None


def open_chain(incident_id: str, *, system: str, severity: str, started: datetime) -> Chain:
    """The incident's chain, created at its first page (a retry or a duplicate finds it)."""
    escalation_policy.load(system).schedule(severity)  # refuses an unknown severity first
    try:
        client("dynamodb").put_item(
            TableName=settings().guard_table,
            Item={
                **_key(incident_id),
                "incidentId": {"S": incident_id},
                "system": {"S": system},
                "severity": {"S": severity},
                "startedAt": {"S": started.isoformat()},
                "paged": {"M": {}},
            },
            ConditionExpression="attribute_not_exists(pk)",
        )
    except ClientError as e:
        if e.response["Error"]["Code"] != "ConditionalCheckFailedException":
            raise
    chain = get(incident_id)
    assert chain is not None  # written above, or already there
    return chain


def mark_paged(incident_id: str, level: str) -> bool:
    """Record that `level` was paged now: False when it was recorded already (the first
    time is kept)."""
    try:
        client("dynamodb").update_item(
            TableName=settings().guard_table,
            Key=_key(incident_id),
            UpdateExpression="SET paged.#level = :at",
            ConditionExpression="attribute_exists(pk) AND attribute_not_exists(paged.#level)",
            ExpressionAttributeNames={"#level": level},
            ExpressionAttributeValues={":at": {"S": clock.now().isoformat()}},
        )
    except ClientError as e:
        if e.response["Error"]["Code"] == "ConditionalCheckFailedException":
            return False
        raise
    return True


def acknowledge(incident_id: str, *, by: str) -> Chain:
    """Stop the chain's escalation (the incident stays open). ValueError naming the field
    when there is no such page chain, the name is empty, or it is resolved; acknowledging
    twice keeps the first acknowledgement."""
    if not isinstance(by, str) or not by.strip():
        raise ValueError("by: required (who acknowledges the page), got an empty name")
    try:
        client("dynamodb").update_item(
            TableName=settings().guard_table,
            Key=_key(incident_id),
            UpdateExpression="SET acknowledgedBy = :by, acknowledgedAt = :at",
            ConditionExpression="attribute_exists(pk) AND attribute_not_exists(acknowledgedBy) "
            "AND attribute_not_exists(resolvedAt)",
            ExpressionAttributeValues={
                ":by": {"S": by.strip()},
                ":at": {"S": clock.now().isoformat()},
            },
        )
    except ClientError as e:
        if e.response["Error"]["Code"] != "ConditionalCheckFailedException":
            raise
    chain = get(incident_id)
    if chain is None:
        raise ValueError(f"incident: no page chain for {incident_id!r} (nobody was paged)")
    if chain.resolvedAt and chain.acknowledgedBy is None:
        raise ValueError(f"incident: {incident_id!r} was resolved at {chain.resolvedAt}")
    return chain


def resolve(incident_id: str) -> list[str]:
    """End the chain; the levels to send the resolve to (every level paged), to the one
    caller that ended it: a second resolve sends nothing."""
    try:
        resp = client("dynamodb").update_item(
            TableName=settings().guard_table,
            Key=_key(incident_id),
            UpdateExpression="SET resolvedAt = :at",
            ConditionExpression="attribute_exists(pk) AND attribute_not_exists(resolvedAt)",
            ExpressionAttributeValues={":at": {"S": clock.now().isoformat()}},
            ReturnValues="ALL_NEW",
        )
    except ClientError as e:
        if e.response["Error"]["Code"] == "ConditionalCheckFailedException":
            return []
        raise
    chain = _decode(resp["Attributes"])
    return sorted(chain.paged, key=lambda level: chain.paged[level])


def page(chain: Chain, level: str, *, subject: str, message: dict[str, Any]) -> bool:
    """Page `level` of `chain` (its policy's topic) unless it was paged already or the chain
    was acknowledged or resolved; True when this call paged."""
    now = get(chain.incidentId) or chain
    if level in now.paged or now.acknowledgedBy or now.resolvedAt:
        return False
    policy = escalation_policy.load(chain.system)
    notify.publish(
        policy.topic(level),
        subject=subject,
        message={
            **message,
            "kind": "page",
            "dedupKey": chain.dedup_key,
            "level": level,
            "who": policy.levels[level].who,
            "severity": chain.severity,
        },
    )
    mark_paged(chain.incidentId, level)
    return True


def close(incident_id: str, *, subject: str, message: dict[str, Any]) -> list[str]:
    """End the chain and send one resolve to every level it paged (nothing when it paged
    nobody, or another caller closed it), carrying the post-incident record."""
    chain = get(incident_id)
    if chain is None:
        return []
    levels = resolve(incident_id)
    policy = escalation_policy.load(chain.system)
    record = _post_incident(incident_id, message)
    for level in levels:
        notify.publish(
            policy.topic(level),
            subject=subject,
            message={
                **message,
                "kind": "resolve",
                "dedupKey": chain.dedup_key,
                "level": level,
                **({"postIncident": record} if record else {}),
            },
        )
    return levels


def _post_incident(incident_id: str, message: dict[str, Any]) -> dict[str, Any] | None:
    """The post-incident record of a resolved chain that paged someone (`post_incident`),
    written to the audit trail once: a retry of the close finds it there and reuses it."""
    chain = get(incident_id)
    if chain is None or not chain.paged or chain.resolvedAt is None:
        return None
    for rec in audit.history(incident_id):
        if rec["action"] == post_incident.ACTION:
            return dict(rec["details"])
    record = post_incident.build(
        incident_id=incident_id,
        system=chain.system,
        severity=chain.severity,
        started_at=chain.startedAt,
        paged=chain.paged,
        acknowledged_by=chain.acknowledgedBy,
        acknowledged_at=chain.acknowledgedAt,
        resolved_at=chain.resolvedAt,
        message=message,
    )
    audit.record(
        incident_id=incident_id,
        execution=str(message.get("execution") or ""),
        action=post_incident.ACTION,
        actor="page_chain",
        why=post_incident.WHY,
        result=post_incident.summary(record),
        details=record,
    )
    return record
