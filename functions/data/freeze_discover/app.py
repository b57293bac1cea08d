"""Find what ingests for a scope, by tag. An empty result is an error, never "all"."""

from __future__ import annotations

from typing import Any

from selfheal_shared.core.clients import client
from selfheal_shared.core.errors import NothingFound
from selfheal_shared.core.observability import logger
from selfheal_shared.core.protocol import Run, remediator
from selfheal_shared.data import ingestion
from selfheal_shared.data.ingestion_store import scope_buckets


def _tagged(tags: dict[str, str], scope: str) -> bool:
    return tags.get(ingestion.TAG_SCOPE) == scope


def _rules(scope: str) -> list[dict[str, Any]]:
    events = client("events")
    out = []
    for bus in events.list_event_buses()["EventBuses"]:
        for page in events.get_paginator("list_rules").paginate(EventBusName=bus["Name"]):
            for rule in page["Rules"]:
                tags = {
                    t["Key"]: t["Value"]
                    for t in events.list_tags_for_resource(ResourceARN=rule["Arn"])["Tags"]
                }
                if _tagged(tags, scope):
                    out.append(
                        {
                            "arn": rule["Arn"],
                            "name": rule["Name"],
                            "bus": bus["Name"],
                            "state": rule["State"],
                        }
                    )
    return out


def _state_machines(scope: str) -> list[str]:
    sfn = client("stepfunctions")
    out = []
    for page in sfn.get_paginator("list_state_machines").paginate():
        for sm in page["stateMachines"]:
            tags = {
                t["key"]: t["value"]
                for t in sfn.list_tags_for_resource(resourceArn=sm["stateMachineArn"])["tags"]
            }
            if _tagged(tags, scope):
                out.append(sm["stateMachineArn"])
    return out


def _mappings(scope: str) -> list[dict[str, Any]]:
    lam = client("lambda")
    out = []
    for page in lam.get_paginator("list_functions").paginate():
        for fn in page["Functions"]:
            if not _tagged(lam.list_tags(Resource=fn["FunctionArn"]).get("Tags", {}), scope):
                continue
            for m in lam.list_event_source_mappings(FunctionName=fn["FunctionName"])[
                "EventSourceMappings"
            ]:
                out.append(
                    {
                        "uuid": m["UUID"],
                        "function": fn["FunctionName"],
                        "source": m.get("EventSourceArn", ""),
                        "state": m["State"],
                    }
                )
    return out


@remediator(
    ingestion.FreezeIncident,
    actor="freeze_discover",
    automation=ingestion.AUTOMATION,
    what="freeze incident",
)
def handler(run: Run[ingestion.FreezeIncident]) -> dict[str, Any]:
    scope = run.request.scope
    rules, machines, mappings = _rules(scope), _state_machines(scope), _mappings(scope)
    if not (rules or machines or mappings):
        raise NothingFound(
            f"scope {scope!r}: no EventBridge rule, state machine or function tagged "
            f"{ingestion.TAG_SCOPE}={scope}; refusing to guess what to stop"
        )
    buckets = scope_buckets(scope, ("processed", "backup"))
    for role in ("processed", "backup"):
        if role not in buckets:
            raise NothingFound(
                f"scope {scope!r}: no bucket tagged {ingestion.TAG_BUCKET}={role}; "
                "cannot snapshot before freezing"
            )
    found = {
        "rules": rules,
        "stateMachines": machines,
        "mappings": mappings,
        "processedBucket": buckets["processed"],
        "backupBucket": buckets["backup"],
    }
    logger.info("discovered", extra=found)
    return found
