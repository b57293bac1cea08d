"""Acknowledge an incident's pages over HTTPS (the stacks' function URL): a signed PagerDuty
V3 `incident.acknowledged` webhook or a signed `{"incidentId", "by"}`
(`selfheal_shared/core/page_ack.py`). The chain stops escalating; the incident stays open.

Every request is answered, never raised: what was refused is recorded with why (kept for
inspection), and nothing but the acknowledgement is ever changed."""

from __future__ import annotations

import base64
import json
from typing import Any

from selfheal_shared.core import audit, page_ack, page_chain
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
            return _answer(202, {"ignored": "not an incident.acknowledged event"})
        chain = page_chain.acknowledge(ack.incident_id, by=f"{ack.by} (via {ack.source})")
    except page_ack.Refused as e:
        logger.warning("page ack refused", extra={"status": e.status, "why": str(e)})
        return _answer(e.status, {"error": str(e)})
    except ValueError as e:  # no such chain, resolved: page_chain names it
        logger.warning("page ack refused", extra={"status": 404, "why": str(e)})
        return _answer(404, {"error": str(e)})
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
