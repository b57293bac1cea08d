"""Acknowledge an incident's pages over HTTPS (the stacks' function URL): a signed PagerDuty
V3 `incident.acknowledged` webhook or a signed `{"incidentId", "by"}`
(`selfheal_shared/core/page_ack.py`). The chain stops escalating; the incident stays open.
A signed PagerDuty `incident.resolved` resolves the chain (`core/page_resolve.py`): one
resolve to every level paged and the post-incident record, by the agent who resolved it.

Every request is answered, never raised: what was refused is logged with why (kept for
inspection in the function's log group), and nothing but the acknowledgement is ever
changed; a repeated acknowledgement changes nothing and is not recorded again."""

from __future__ import annotations

import base64
import json
from typing import Any

from selfheal_shared.core import audit, page_ack, page_chain, page_resolve, post_incident
from selfheal_shared.core.clients import client
from selfheal_shared.core.handler import remediator
from selfheal_shared.core.observability import logger

ACTOR = "page_ack"


def _answer(status: int, body: dict[str, Any]) -> dict[str, Any]:
    return {
        "statusCode": status,
        "headers": {"content-type": "application/json"},
        "body": json.dumps(body, sort_keys=True),
    }


def _secret() -> str:
    value = client("secretsmanager").get_secret_value(SecretId=page_ack.SECRET_NAME)
    return str(value.get("SecretString") or "")


def _body(event: dict[str, Any]) -> bytes:
    raw = event.get("body") or ""
    if event.get("isBase64Encoded"):
        return base64.b64decode(raw)
    return str(raw).encode()


@remediator
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    method = ((event.get("requestContext") or {}).get("http") or {}).get("method", "")
    if method != "POST":
        return _answer(405, {"error": f"method: {method or 'none'} is not POST"})
    headers = {str(k).lower(): str(v) for k, v in (event.get("headers") or {}).items()}
    body = _body(event)
    try:
        signed_by = page_ack.verify(body, headers, _secret())
        ack = page_ack.parse(body, signed_by)
        if ack is None:
            return _answer(202, {"ignored": "not an incident.acknowledged or resolved event"})
        by = f"{ack.by} (via {ack.source})"
        if ack.action == "resolve":
            return _resolve(ack, by)
        chain, first = page_chain.acknowledge_once(ack.incident_id, by=by)
    except page_ack.Refused as e:
        logger.warning("page ack refused", extra={"status": e.status, "why": str(e)})
        return _answer(e.status, {"error": str(e)})
    except ValueError as e:  # no such chain, resolved: page_chain names it
        logger.warning("page ack refused", extra={"status": 404, "why": str(e)})
        return _answer(404, {"error": str(e)})
    if not first:  # the first acknowledgement stands; a repeat changes and records nothing
        return _answer(
            200,
            {
                "incidentId": chain.incidentId,
                "acknowledgedBy": chain.acknowledgedBy,
                "acknowledgedAt": chain.acknowledgedAt,
                "already": True,
            },
        )
    audit.record(
        incident_id=chain.incidentId,
        execution="page-ack",
        action="pages_acknowledged",
        actor=ACTOR,
        why=f"acknowledged over HTTPS by {chain.acknowledgedBy}",
        result=f"escalation stopped at {', '.join(chain.paged) or 'no level'}; "
        "the incident stays open",
    )
    return _answer(
        200,
        {
            "incidentId": chain.incidentId,
            "acknowledgedBy": chain.acknowledgedBy,
            "acknowledgedAt": chain.acknowledgedAt,
            "paged": sorted(chain.paged),
        },
    )


def _resolve(ack: page_ack.Ack, by: str) -> dict[str, Any]:
    """A person resolved the incident in PagerDuty: end the chain the way `selfheal resolve`
    does; a redelivery (or a chain resolved already) is answered 200 and changes nothing."""
    person = post_incident.ByPerson(
        by=by,
        cause=ack.note,
        via="PagerDuty",
        no_cause=f"resolved in PagerDuty by {ack.by}, no cause given",
    )
    try:
        done = page_resolve.resolve(ack.incident_id, person, actor=ACTOR)
    except page_resolve.AlreadyResolved as e:
        return _answer(
            200,
            {
                "incidentId": e.chain.incidentId,
                "resolvedAt": e.chain.resolvedAt,
                "resolvedBy": e.chain.resolvedBy,
                "already": True,
            },
        )
    return _answer(
        200,
        {
            "incidentId": done.chain.incidentId,
            "resolvedBy": done.chain.resolvedBy,
            "resolvedAt": done.chain.resolvedAt,
            "resolveSentTo": done.levels,
        },
    )
