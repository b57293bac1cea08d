"""EventBridge Scheduler, locally: when a schedule fires and what it starts.

`occurrences` evaluates the schedule's own `cron(...)` in its own time zone (AWS's
six-field syntax: minutes hours day-of-month month day-of-week year, `?` for "any",
days of the week 1-7 = SUN-SAT or names), and `fire` starts the target workflow with the
input Scheduler would send, its `<aws.scheduler.*>` context attributes filled in.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from selfheal_cdk.spec import ScheduleSpec

if TYPE_CHECKING:
    from .runtime import Pipeline

_MONTHS = {
    m: i
    for i, m in enumerate(
        ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"), 1
    )
}
_DAYS = {d: i for i, d in enumerate(("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"), 1)}
#: How far ahead `occurrences` looks before deciding a cron never fires.
HORIZON_DAYS = 366 * 5


class CronError(ValueError):
    pass


class ScheduleDisabled(RuntimeError):
    """A schedule shipped `"state": "DISABLED"`: Scheduler never starts it."""


def _field(text: str, lo: int, hi: int, names: dict[str, int] | None = None) -> set[int] | None:
    """The values a cron field allows; None for `*` / `?` (anything)."""
    if text in ("*", "?"):
        return None
    out: set[int] = set()
    for part in text.split(","):
        step = 1
        if "/" in part:
            part, step_text = part.split("/", 1)
            step = int(step_text)
        if part == "*":
            a, b = lo, hi
        elif "-" in part:
            a_text, b_text = part.split("-", 1)
            a, b = _value(a_text, names), _value(b_text, names)
        else:
            a = _value(part, names)
            b = hi if step > 1 else a
        if not (lo <= a <= hi and lo <= b <= hi):
            raise CronError(f"{part!r} outside {lo}-{hi}")
        out.update(range(a, b + 1, step))
    return out


def _value(text: str, names: dict[str, int] | None) -> int:
    if names and text.upper() in names:
        return names[text.upper()]
    if not text.isdigit():
        raise CronError(f"unsupported cron value {text!r} (L, W and # are not handled locally)")
    return int(text)


def _cron_fields(expression: str) -> list[str]:
    m = re.fullmatch(r"cron\((.+)\)", expression.strip())
    if not m or len(m.group(1).split()) != 6:
        raise CronError(f"{expression!r} is not a six-field cron() expression")
    return m.group(1).split()


def occurrences(schedule: ScheduleSpec, after: datetime, count: int = 1) -> list[datetime]:
    """The next `count` fire times strictly after `after` (aware, in the schedule's zone)."""
    minute, hour, dom, month, dow, year = _cron_fields(schedule.expression)
    if dom != "?" and dow != "?":
        raise CronError("AWS cron needs '?' in day-of-month or day-of-week")
    minutes = sorted(_field(minute, 0, 59) or range(60))
    hours = sorted(_field(hour, 0, 23) or range(24))
    doms, months = _field(dom, 1, 31), _field(month, 1, 12, _MONTHS)
    dows, years = _field(dow, 1, 7, _DAYS), _field(year, 1970, 2199)
    tz = ZoneInfo(schedule.timezone)
    local_after = after.astimezone(tz)
    out: list[datetime] = []
    for day in _days(local_after.date()):
        if (months and day.month not in months) or (years and day.year not in years):
            continue
        if doms is not None and day.day not in doms:
            continue
        if dows is not None and (day.isoweekday() % 7) + 1 not in dows:
            continue
        for h in hours:
            for mi in minutes:
                at = datetime(day.year, day.month, day.day, h, mi, tzinfo=tz)
                if at > local_after:
                    out.append(at)
                    if len(out) == count:
                        return out
    if not out:
        raise CronError(f"{schedule.expression} never fires within {HORIZON_DAYS} days")
    return out


def _days(start: date) -> Iterator[date]:
    for n in range(HORIZON_DAYS):
        yield start + timedelta(days=n)


def scheduler_input(
    schedule: ScheduleSpec, at: datetime, *, schedule_arn: str, execution_id: str, attempt: int = 1
) -> dict[str, Any]:
    """The target input with Scheduler's context attributes filled in, the way it does."""
    values = {
        "aws.scheduler.schedule-arn": schedule_arn,
        "aws.scheduler.scheduled-time": at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "aws.scheduler.execution-id": execution_id,
        "aws.scheduler.attempt-number": str(attempt),
    }
    text = schedule.input_text()
    for key, value in values.items():
        text = text.replace(f"<{key}>", value)
    return json.loads(text)  # type: ignore[no-any-return]


def fire(p: Pipeline, name: str, at: datetime | None = None, *, as_enabled: bool = False) -> str:
    """Fire schedule `name` at `at` (default: its next occurrence after the clock): move
    virtual time there when it is ahead, start the target, return the execution ARN. A
    disabled schedule raises `ScheduleDisabled` (Scheduler would not start it) unless
    `as_enabled`: what it does once an operator enables it."""
    schedule = p.spec.schedules[name]
    if not (schedule.enabled or as_enabled):
        raise ScheduleDisabled(f"schedule {name} is DISABLED: Scheduler does not start it")
    when = at or occurrences(schedule, p.clock.now())[0]
    if when.tzinfo is None:
        raise ValueError("give the fire time with a time zone")
    p.clock.advance_to(when.astimezone(UTC))
    execution_id = str(uuid.uuid4())
    payload = scheduler_input(
        schedule,
        when,
        schedule_arn=f"arn:aws:scheduler:us-east-1:123456789012:schedule/default/{name}",
        execution_id=execution_id,
    )
    p.log(
        "event",
        f"schedule {name} fired for {when.isoformat()} ({schedule.timezone})",
        input=payload,
    )
    arn = p.client("stepfunctions").start_execution(
        stateMachineArn=p.state_machines[schedule.workflow],
        name=f"{name}-{execution_id[:12]}",
        input=json.dumps(payload),
    )["executionArn"]
    p.log("route", f"schedule {name} -> workflow {schedule.workflow}", execution=arn)
    return str(arn)
