"""The E-Stop incident (runbook 000 §5c, catalog E7): never reset by automation. The cause is
read from the edge's own emergency-stop event ("Ver motivo do E-Stop"); without one the
reset cannot be approved ("NUNCA fazer reset sem identificar causa"); with one, a human
confirms the system is safe and the cause shown, and only that answer lets the reset go."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import ConfigDict, Field

from ..core.basemodel import Model
from .edge_alarm_source import REASON_PREFIX
from .incident import BatteryAlarm

AUTOMATION = "emergency_stop"
KIND = "EMERGENCY_STOP"
#: An event whose time is within this of the alarm's raise time is that alarm's own event.
SAME_EVENT_SECONDS = 0.001


class AlarmDetail(BatteryAlarm):
    alarm: str = Field(pattern=f"^{KIND}$")


class Approval(Model):
    """The runbook's body for the reset, `{"confirmedSafe": true, "operator": ...}`, plus the
    cause the operator confirms (it must be the one shown at the gate) and, optionally, what
    was done about it; both go into the incident's record."""

    model_config = ConfigDict(extra="forbid", strict=True)

    confirmedSafe: Literal[True]
    operator: str = Field(min_length=1, max_length=128)
    cause: str = Field(min_length=1, max_length=500)
    reason: str = Field(default="", max_length=500)


def event_key(edge_id: str) -> str:
    """Where the edge registry keeps the edge's last emergency-stop event (its events API)."""
    return f"alarm#{edge_id}#{KIND}"


def cause_of(event: dict[str, Any] | None, raised_at: str) -> tuple[str | None, str]:
    """(the cause, what the events say) for the E-Stop raised at `raised_at`: the reason of
    that E-Stop's own event. None when there is no such event, it gives no reason, or the
    reason is only a CloudWatch alarm's state reason (a threshold, not a cause)."""
    if not event or not event.get("ts"):
        return None, "no emergency-stop event recorded for the edge"
    at = datetime.fromtimestamp(float(event["ts"]), UTC)
    raised = datetime.fromisoformat(raised_at)
    if event.get("state") != "active" or abs((at - raised).total_seconds()) > SAME_EVENT_SECONDS:
        return None, (
            f"the last emergency-stop event ({event.get('state')} at {at.isoformat()}) is not "
            f"the one raised at {raised_at}"
        )
    reason = str(event.get("reason") or "").strip()
    if not reason:
        return None, "the emergency-stop event gives no reason"
    if reason.startswith(REASON_PREFIX):
        return None, f"only a CloudWatch alarm's state reason, not the E-Stop's cause ({reason})"
    return reason, reason


def refused_cause(approval: Approval, shown: str) -> str | None:
    """Why the approval's cause is not the one shown at the gate, or None."""
    if not shown:
        return "cause: no cause was identified, so no reset can be approved"
    if approval.cause.strip() != shown.strip():
        given, expected = approval.cause[:80], shown[:200]
        return f"cause: {given!r} is not the cause shown at the gate ({expected!r})"
    return None
