"""Probe the described services every minute and publish what the alarms of `events/alarms/`
with publisher `probe` read (`selfheal_shared/services/probes.py`): their /health, queue backlog,
data age, ingestion instances' health and coverage, as the runbooks check them by hand
("curl /health", "rq info", "/health/dados-recentes", "/health/metrics"). It reads and
publishes; it changes nothing."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict
from selfheal_shared.core.handler import remediator
from selfheal_shared.core.models import parse
from selfheal_shared.core.observability import logger
from selfheal_shared.services import probes


class ProbeRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    trigger: Literal["schedule", "manual"] = "manual"
    scheduledTime: str | None = None


@remediator
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    parse(ProbeRequest, event, "service_probe input")
    done = probes.publish()
    logger.info("service probes published", extra=done)
    return done
