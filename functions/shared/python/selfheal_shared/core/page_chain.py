"""One page chain per incident: who was paged when, who acknowledged, and the resolve.

A level is claimed first (a conditional write), published, then marked delivered: two
callers racing for the same level (the workflow that opened the chain and the chain's
watcher) page it once. A claim whose publish failed is withdrawn and the error raised (the
caller retries); a claim left undelivered by a crash is published again by the watcher
(`undelivered`) under the same deduplication key, so a paging service still shows one
alert and no page is lost.

A chain opened with `watch` is walked up its ladder by the `page_chain` workflow (started
by the `Page Chain Opened` event on the paging bus), so a workflow that waits on people
(an E-Stop's confirmation) or on a slow signal still escalates on the policy's clock.

The chain lives in the guard-state table (`page-chain#<incidentId>`), the table operators
already write (silences, the kill switch), so `selfheal ack` works the same against AWS and
against `selfheal serve`. Every change is a conditional write: a level is paged once, an
acknowledgement is kept once (the first one wins and is never overwritten), and the resolve
goes out once, to every level that was paged. The incident id is the chain's deduplication
key (paging services collapse pages carrying the same key into one alert).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError

from . import audit, clock, escalation_policy, notify, page_severity, post_incident
from .clients import client
from .config import settings

PREFIX = "page-chain#"
#: The bus the chain's watcher workflow listens on (`events/rules/page_chain.json`).
BUS = "selfheal-paging"
SOURCE = "selfheal.paging"
OPENED = "Page Chain Opened"
#: A claimed level not marked delivered after this long is published again.
REDELIVER_AFTER_SECONDS = 120


@dataclass(frozen=True)
class Chain:
    incidentId: str
    system: str
    severity: str
    startedAt: str
    #: level → when it was paged (claimed).
    paged: dict[str, str] = field(default_factory=dict)
    #: level → when its publish returned.
    delivered: dict[str, str] = field(default_factory=dict)
    acknowledgedBy: str | None = None
    acknowledgedAt: str | None = None
    resolvedAt: str | None = None
    #: Who resolved it when a person did (`selfheal resolve`, PagerDuty); None: the automation.
    resolvedBy: str | None = None
    #: The workflow the incident belongs to (its timeline holds the chain's pages).
    automation: str = ""
    #: What the first page said, repeated by every later level.
    subject: str = ""
    message: dict[str, Any] = field(default_factory=dict)
    #: Silence scopes that hold the chain's pages while a silence covers one of them.
    scopes: tuple[str, ...] = ()
    #: Walked by the watcher workflow (else by the workflow that opened it).
    watch: bool = False
    watchingSince: str | None = None
    #: Since when a silence holds the chain's pages (its ladder's clock stands still).
    heldSince: str | None = None
    #: How long silences held the chain before: the ladder resumes where it stood.
    heldSeconds: float = 0.0
    #: The post-incident record, kept here first (one conditional write) so every closer
    #: sends the same one, then copied to the audit trail.
    postIncident: dict[str, Any] | None = None

    @property
    def dedup_key(self) -> str:
        return self.incidentId

    def minutes(self, now: datetime | None = None) -> float:
        began = datetime.fromisoformat(self.startedAt)
        return ((now or clock.now()) - began).total_seconds() / 60

    def ladder_minutes(self, now: datetime | None = None) -> float:
        """Minutes on the ladder's clock: since the start, less the time silences held it."""
        now = now or clock.now()
        if self.heldSince:
            now = min(now, datetime.fromisoformat(self.heldSince))
        return self.minutes(now) - self.heldSeconds / 60

    def ladder_at(self, minutes: float) -> datetime:
        """When the ladder's clock reads `minutes` (the silences' time added)."""
        began = datetime.fromisoformat(self.startedAt)
        return began + timedelta(seconds=self.heldSeconds, minutes=minutes)

    def due(self, now: datetime | None = None) -> escalation_policy.Due:
        """Who the policy pages now; nobody once acknowledged or resolved."""
        if self.resolvedAt:
            return escalation_policy.Due(None, None)
        return escalation_policy.due(
            escalation_policy.load(self.system),
            self.severity,
            self.ladder_minutes(now),
            set(self.paged),
            acknowledged=self.acknowledgedBy is not None,
        )


def _key(incident_id: str) -> dict[str, Any]:
    return {"pk": {"S": PREFIX + incident_id}}


def _times(item: dict[str, Any], name: str) -> dict[str, str]:
    return {k: v["S"] for k, v in item.get(name, {}).get("M", {}).items()}


def _decode(item: dict[str, Any]) -> Chain:
    return Chain(
        incidentId=item["incidentId"]["S"],
        system=item["system"]["S"],
        severity=item["severity"]["S"],
        startedAt=item["startedAt"]["S"],
        paged=_times(item, "paged"),
        delivered=_times(item, "delivered"),
        acknowledgedBy=item.get("acknowledgedBy", {}).get("S"),
        acknowledgedAt=item.get("acknowledgedAt", {}).get("S"),
        resolvedAt=item.get("resolvedAt", {}).get("S"),
        resolvedBy=item.get("resolvedBy", {}).get("S"),
        automation=item.get("automation", {}).get("S", ""),
        subject=item.get("subject", {}).get("S", ""),
        message=json.loads(item.get("message", {}).get("S", "{}")),
        scopes=tuple(v["S"] for v in item.get("scopes", {}).get("L", [])),
        watch=item.get("watch", {}).get("BOOL", False),
        watchingSince=item.get("watchingSince", {}).get("S"),
        heldSince=item.get("heldSince", {}).get("S"),
        heldSeconds=float(item.get("heldSeconds", {}).get("N", "0")),
        postIncident=json.loads(item["postIncident"]["S"]) if "postIncident" in item else None,
    )


def get(incident_id: str) -> Chain | None:
    item = (
        client("dynamodb")
        .get_item(TableName=settings().guard_table, Key=_key(incident_id), ConsistentRead=True)
        .get("Item")
    )
    return _decode(item) if item else None


def open_chain(
    incident_id: str,
    *,
    system: str,
    severity: str,
    started: datetime,
    watch: bool = False,
    automation: str = "",
    subject: str = "",
    message: dict[str, Any] | None = None,
    scopes: Sequence[str] = (),
) -> Chain:
    """The incident's chain, created at its first page (a retry or a duplicate finds it).
    With `watch`, its watcher is asked for until it says it is watching (a crash between
    the write and the event asks again on the retry; a second watcher pages nobody twice)."""
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
                "delivered": {"M": {}},
                "resolveSent": {"M": {}},
                "updates": {"M": {}},
                "automation": {"S": automation},
                "subject": {"S": subject},
                "message": {"S": json.dumps(message or {}, sort_keys=True, default=str)},
                "scopes": {"L": [{"S": s} for s in scopes]},
                "watch": {"BOOL": watch},
            },
            ConditionExpression="attribute_not_exists(pk)",
        )
    except ClientError as e:
        if e.response["Error"]["Code"] != "ConditionalCheckFailedException":
            raise
    chain = get(incident_id)
    assert chain is not None  # written above, or already there
    return chain


def ask_for_watcher(incident_id: str) -> None:
    """After the chain's first pages: start its watcher (a chain opened with `watch`) for
    the next level, unless it is watching already, ended, or nobody is left to page. Its
    first look is at that level's time (`firstLookAt`). Asked again on a retry until the
    watcher says it is watching; a second watcher ends at its claim."""
    chain = get(incident_id)
    if chain is None or not chain.watch or chain.watchingSince or chain.resolvedAt:
        return
    due = chain.due()
    if due.level is None and due.next_at is None:
        return  # every level paged, or acknowledged: nothing for a watcher to do
    # The due level's own time (a past one when it is due now): the same for every ask of
    # this chain, so a second ask is the same event and its watcher ends at the claim.
    minutes = due.next_at
    if due.level is not None:
        minutes = dict(escalation_policy.load(chain.system).schedule(chain.severity))[due.level]
    first = datetime.fromisoformat(chain.startedAt) + timedelta(minutes=minutes or 0)
    resp = client("events").put_events(
        Entries=[
            {
                "EventBusName": BUS,
                "Source": SOURCE,
                "DetailType": OPENED,
                "Detail": json.dumps(
                    {
                        "incidentId": chain.incidentId,
                        "system": chain.system,
                        "severity": chain.severity,
                        "startedAt": chain.startedAt,
                        "firstLookAt": clock.aws_time(first),
                    }
                ),
            }
        ]
    )
    if resp.get("FailedEntryCount"):
        raise RuntimeError(f"page chain {chain.incidentId}: the watcher event was refused: {resp}")


def watching(incident_id: str) -> tuple[Chain | None, bool]:
    """The watcher's first step: from now on it walks the chain (no more events asked);
    the chain and whether this call started the watch."""
    try:
        client("dynamodb").update_item(
            TableName=settings().guard_table,
            Key=_key(incident_id),
            UpdateExpression="SET watchingSince = :at",
            ConditionExpression="attribute_exists(pk) AND attribute_not_exists(watchingSince)",
            ExpressionAttributeValues={":at": {"S": clock.now().isoformat()}},
        )
    except ClientError as e:
        if e.response["Error"]["Code"] != "ConditionalCheckFailedException":
            raise
        return get(incident_id), False
    return get(incident_id), True


def claim(incident_id: str, level: str) -> bool:
    """Take `level` for paging now: False when it was claimed already, or the chain was
    acknowledged or resolved meanwhile (the first claim is kept)."""
    try:
        client("dynamodb").update_item(
            TableName=settings().guard_table,
            Key=_key(incident_id),
            UpdateExpression="SET paged.#level = :at",
            ConditionExpression="attribute_exists(pk) AND attribute_not_exists(paged.#level) "
            "AND attribute_not_exists(acknowledgedBy) AND attribute_not_exists(resolvedAt)",
            ExpressionAttributeNames={"#level": level},
            ExpressionAttributeValues={":at": {"S": clock.now().isoformat()}},
        )
    except ClientError as e:
        if e.response["Error"]["Code"] == "ConditionalCheckFailedException":
            return False
        raise
    return True


def _set_delivered(incident_id: str, level: str) -> None:
    client("dynamodb").update_item(
        TableName=settings().guard_table,
        Key=_key(incident_id),
        UpdateExpression="SET delivered.#level = :at",
        ExpressionAttributeNames={"#level": level},
        ExpressionAttributeValues={":at": {"S": clock.now().isoformat()}},
    )


def _withdraw(incident_id: str, level: str) -> None:
    try:
        client("dynamodb").update_item(
            TableName=settings().guard_table,
            Key=_key(incident_id),
            UpdateExpression="REMOVE paged.#level",
            ConditionExpression="attribute_not_exists(delivered.#level)",
            ExpressionAttributeNames={"#level": level},
        )
    except ClientError as e:
        if e.response["Error"]["Code"] != "ConditionalCheckFailedException":
            raise


def undelivered(chain: Chain, now: datetime | None = None) -> list[str]:
    """Levels claimed long enough ago but never marked delivered (the pager crashed
    between the claim and the publish): to publish again."""
    cutoff = (now or clock.now()) - timedelta(seconds=REDELIVER_AFTER_SECONDS)
    return [
        level
        for level, at in chain.paged.items()
        if level not in chain.delivered and datetime.fromisoformat(at) <= cutoff
    ]


def acknowledge(incident_id: str, *, by: str) -> Chain:
    """Stop the chain's escalation (the incident stays open). ValueError naming the field
    when there is no such page chain, the name is empty, or it is resolved; acknowledging
    twice keeps the first acknowledgement."""
    return acknowledge_once(incident_id, by=by)[0]


def acknowledge_once(incident_id: str, *, by: str) -> tuple[Chain, bool]:
    """`acknowledge`, and whether this call was the acknowledgement (False: one stood)."""
    won = True
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
        won = False
    chain = get(incident_id)
    if chain is None:
        raise ValueError(f"incident: no page chain for {incident_id!r} (nobody was paged)")
    if chain.resolvedAt and chain.acknowledgedBy is None:
        raise ValueError(f"incident: {incident_id!r} was resolved at {chain.resolvedAt}")
    return chain, won


def resolve(incident_id: str, *, by: str | None = None) -> list[str]:
    """End the chain; the levels to send the resolve to (every level paged), to the one
    caller that ended it: a second resolve sends nothing. `by`: the person who ended it."""
    values = {":at": {"S": clock.now().isoformat()}} | ({":by": {"S": by}} if by else {})
    try:
        resp = client("dynamodb").update_item(
            TableName=settings().guard_table,
            Key=_key(incident_id),
            UpdateExpression="SET resolvedAt = :at" + (", resolvedBy = :by" if by else ""),
            ConditionExpression="attribute_exists(pk) AND attribute_not_exists(resolvedAt)",
            ExpressionAttributeValues=values,
            ReturnValues="ALL_NEW",
        )
    except ClientError as e:
        if e.response["Error"]["Code"] == "ConditionalCheckFailedException":
            return []
        raise
    chain = _decode(resp["Attributes"])
    return sorted(chain.paged, key=lambda level: chain.paged[level])


def page(
    chain: Chain, level: str, *, subject: str, message: dict[str, Any], again: bool = False
) -> bool:
    """Page `level` of `chain` (its policy's topic) unless it was paged already or the chain
    was acknowledged or resolved; True when this call paged. `again`: publish a level whose
    claim was never delivered (`undelivered`)."""
    if not again and not claim(chain.incidentId, level):
        return False
    try:
        _send(chain, level, "page", subject=subject, message=message)
    except Exception:
        if not again:
            _withdraw(chain.incidentId, level)  # the caller's retry pages it
        raise
    _set_delivered(chain.incidentId, level)
    return True


def _send(
    chain: Chain, level: str, kind: str, *, subject: str, message: dict[str, Any], **extra: Any
) -> None:
    """One publish of the chain to `level`'s topic, with what a paging service needs: the
    kind (page, update, resolve), the deduplication key, the level, who is behind it and the
    chain's severity (`extra` adds or overrides)."""
    policy = escalation_policy.load(chain.system)
    notify.publish(
        policy.topic(level),
        subject=subject,
        message={
            **message,
            "kind": kind,
            "dedupKey": chain.dedup_key,
            "level": level,
            "who": policy.levels[level].who,
            "severity": chain.severity,
            **extra,
        },
    )


def close(
    incident_id: str,
    *,
    subject: str,
    message: dict[str, Any],
    by_person: post_incident.ByPerson | None = None,
) -> list[str]:
    """End the chain and send one resolve to every level it paged (nothing when it paged
    nobody), carrying the post-incident record. Each level's resolve is claimed before it
    is published and withdrawn if the publish fails, so a retry sends what is missing and
    nobody gets two. `by_person`: a person resolved it (`core/page_resolve.py`)."""
    chain = get(incident_id)
    if chain is None:
        return []
    resolve(incident_id, by=by_person.by if by_person else None)
    chain = get(incident_id) or chain
    record = _post_incident(incident_id, message, by_person)
    sent = []
    for level in sorted(chain.paged, key=lambda lv: chain.paged[lv]):
        if not _claim_entry(incident_id, "resolveSent", level):
            continue
        try:
            _send(
                chain,
                level,
                "resolve",
                subject=subject,
                message=message,
                # The page's channels carry its resolve (an SMS only for critical pages).
                severity=message.get("severity")
                or page_severity.of(chain.message)
                or chain.severity,
                **({"postIncident": record} if record else {}),
            )
        except Exception:
            _update(incident_id, "REMOVE resolveSent.#level", level)
            raise
        sent.append(level)
    return sent


def _claim_entry(incident_id: str, entries: str, name: str, *, unless: str = "") -> bool:
    """Set `entries.name` to now once (a resolve or an update sent to a level): False when
    it was set already (or `unless` holds), so a retry sends nothing twice."""
    condition = f"attribute_exists({entries}) AND attribute_not_exists({entries}.#level)"
    try:
        _update(
            incident_id,
            f"SET {entries}.#level = :at",
            name,
            condition=condition + (f" AND attribute_not_exists({unless})" if unless else ""),
            at=clock.now().isoformat(),
        )
    except ClientError as e:
        if e.response["Error"]["Code"] == "ConditionalCheckFailedException":
            return False
        raise
    return True


def _update(
    incident_id: str, expression: str, level: str, *, condition: str = "", at: str = ""
) -> None:
    args: dict[str, Any] = {
        "TableName": settings().guard_table,
        "Key": _key(incident_id),
        "UpdateExpression": expression,
        "ExpressionAttributeNames": {"#level": level},
    }
    if condition:
        args["ConditionExpression"] = condition
    if at:
        args["ExpressionAttributeValues"] = {":at": {"S": at}}
    client("dynamodb").update_item(**args)


def _post_incident(
    incident_id: str, message: dict[str, Any], by_person: post_incident.ByPerson | None = None
) -> dict[str, Any] | None:
    """The post-incident record of a resolved chain that paged someone (`post_incident`):
    kept on the chain by one conditional write (two closers racing send the same record),
    then written to the audit trail once. A chain a person resolved has their record: a
    workflow's close racing theirs writes none of its own."""
    chain = get(incident_id)
    if chain is None or not chain.paged or chain.resolvedAt is None:
        return None
    if chain.postIncident is None and by_person is None and chain.resolvedBy:
        return None  # the person's close writes it, with what they stated
    record = chain.postIncident or _keep_record(chain, message, by_person)
    if not any(r["action"] == post_incident.ACTION for r in audit.history(incident_id)):
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


def _keep_record(
    chain: Chain, message: dict[str, Any], by_person: post_incident.ByPerson | None
) -> dict[str, Any]:
    record = post_incident.build(
        incident_id=chain.incidentId,
        system=chain.system,
        severity=chain.severity,
        started_at=chain.startedAt,
        paged=chain.paged,
        acknowledged_by=chain.acknowledgedBy,
        acknowledged_at=chain.acknowledgedAt,
        resolved_at=str(chain.resolvedAt),  # resolved: the caller checked
        message=message,
        by_person=by_person,
    )
    try:
        client("dynamodb").update_item(
            TableName=settings().guard_table,
            Key=_key(chain.incidentId),
            UpdateExpression="SET postIncident = :rec",
            ConditionExpression="attribute_not_exists(postIncident)",
            ExpressionAttributeValues={
                ":rec": {"S": json.dumps(record, sort_keys=True, default=str)}
            },
        )
    except ClientError as e:
        if e.response["Error"]["Code"] != "ConditionalCheckFailedException":
            raise
        kept = get(chain.incidentId)
        if kept is not None and kept.postIncident is not None:
            return kept.postIncident
    return record


def hold(chain: Chain, *, silenced: bool, now: datetime | None = None) -> Chain:
    """Keep the ladder's clock still while a silence holds the chain's pages (catalog E9:
    the silence "suppresses paging" and "the incident resumes when it expires"): the first look
    under a silence marks it held, the first look after adds the held time, once (a
    conditional write), so the next level comes its full interval after the silence and
    the overdue ones do not go out together."""
    at = (now or clock.now()).isoformat()
    try:
        if silenced and chain.heldSince is None:
            client("dynamodb").update_item(
                TableName=settings().guard_table,
                Key=_key(chain.incidentId),
                UpdateExpression="SET heldSince = :at",
                ConditionExpression="attribute_exists(pk) AND attribute_not_exists(heldSince)",
                ExpressionAttributeValues={":at": {"S": at}},
            )
        elif not silenced and chain.heldSince is not None:
            since = datetime.fromisoformat(chain.heldSince)
            held = max(0.0, (datetime.fromisoformat(at) - since).total_seconds())
            client("dynamodb").update_item(
                TableName=settings().guard_table,
                Key=_key(chain.incidentId),
                UpdateExpression="SET heldSeconds = if_not_exists(heldSeconds, :zero) + :held "
                "REMOVE heldSince",
                ConditionExpression="heldSince = :since",
                ExpressionAttributeValues={
                    ":zero": {"N": "0"},
                    ":held": {"N": repr(held)},
                    ":since": {"S": chain.heldSince},
                },
            )
        else:
            return chain
    except ClientError as e:
        if e.response["Error"]["Code"] != "ConditionalCheckFailedException":
            raise
    return get(chain.incidentId) or chain


def people(system: str) -> set[str]:
    """The levels of `system`'s policy that page people (every level but the ops queue)."""
    policy = escalation_policy.load(system)
    return {name for name, level in policy.levels.items() if level.topic != "ops"}


def update(
    chain: Chain, levels: Sequence[str], *, news: str, subject: str, message: dict[str, Any]
) -> tuple[list[str], list[str]]:
    """A workflow's news on its incident's open chain (it gave up, a guard refused): every
    level paged before hears it once, under the chain's deduplication key (a paging service
    adds it to the alert it has), and each people level it names that was not paged is paged
    now on the chain (not once acknowledged or resolved: the chain escalates no further).
    `news` names the news: each level's share is claimed before it is sent, so a retried
    call sends nothing twice and a failed publish is withdrawn for the retry. (levels paged
    now, levels updated)."""
    named = [lv for lv in levels if lv in people(chain.system)]
    latest = get(chain.incidentId) or chain
    order = sorted(latest.paged, key=lambda lv: latest.paged[lv])
    paged_now: list[str] = []
    updated: list[str] = []
    for level in [*order, *(lv for lv in named if lv not in latest.paged)]:
        share = f"{news}/{level}"
        if not _claim_entry(chain.incidentId, "updates", share, unless="resolvedAt"):
            continue  # told already (or the chain was resolved meanwhile)
        try:
            if level not in latest.paged and page(chain, level, subject=subject, message=message):
                paged_now.append(level)  # its page carries the news
                continue
            if level not in (get(chain.incidentId) or latest).paged:
                continue  # acknowledged meanwhile: no new level is paged
            _send(chain, level, "update", subject=subject, message=message)
        except Exception:
            _update(chain.incidentId, "REMOVE updates.#level", share)
            raise
        updated.append(level)
    return paged_now, updated
