"""A fan-out's ledger: record an item that failed (after it was escalated), or tally the
run against its tolerated-failure limit. See selfheal_shared.core.fanout."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field
from selfheal_shared.core import fanout
from selfheal_shared.core.errors import InputInvalid
from selfheal_shared.core.handler import remediator
from selfheal_shared.core.models import parse
from selfheal_shared.core.observability import logger
from selfheal_shared.core.outcomes import Outcome


class LedgerRequest(BaseModel):
    op: Literal["fail", "tally"]
    runId: str = Field(min_length=1)
    item: str | None = None
    results: list[dict[str, Any]] = Field(default_factory=list)


@remediator
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    req = parse(LedgerRequest, event, "fan-out ledger request")
    logger.set_correlation_id(req.runId)
    if req.op == "fail":
        if not req.item:
            raise InputInvalid("item: required for op 'fail'")
        failures = fanout.record_failure(req.runId, str(req.item))
        return {"outcome": Outcome.FAILED, "item": req.item, "failures": failures}
    return fanout.summarize(req.runId, req.results)
