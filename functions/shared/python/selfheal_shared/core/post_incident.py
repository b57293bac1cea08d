"""The post-incident record of a page chain (issue 23 item 5), built when the chain closes.

Runbook 004 "Checklist Pós-Incidente" asks, after every incident: downtime in minutes, data
lost (how much), the root cause, whether the team was notified, and "Post-mortem agendado?
(se > 1h downtime)". For an incident that paged people selfheal fills in what it knows: when
each level was paged, who acknowledged and when, the downtime (incident start to resolve),
the data lost and the root cause as the workflow reported them ("not measured" / "not
identified" when it did not), and `postMortem` when the downtime exceeds one hour.

Pure: built from the chain and the close message; `page_chain.close` writes it.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

#: The audit action of the record (one per incident).
ACTION = "post_incident"
#: Runbook 004's threshold: "Post-mortem agendado? (se > 1h downtime)".
POST_MORTEM_AFTER_MINUTES = 60
WHY = "runbook 004 'Checklist Pós-Incidente': downtime, data lost, root cause, post-mortem if > 1h"
#: The checklist's questions only people can answer ("Procedimento foi efetivo?", "Precisa
#: atualizar documentação?", "Precisa melhorar monitoramento?").
FOR_PEOPLE = ("procedureEffective", "updateDocumentation", "improveMonitoring")
#: Where a workflow reports what it measured or found, first key found wins.
DATA_LOST_KEYS = ("dataLost", "samplesLost")
ROOT_CAUSE_KEYS = ("rootCause", "cause")


@dataclass(frozen=True)
class ByPerson:
    """A chain a person resolved (`selfheal resolve`, a PagerDuty `incident.resolved`): what
    that person said, kept as theirs. The automation found none of it."""

    by: str
    #: The root cause as the person stated it; None: they gave none (left for people).
    cause: str | None = None
    #: What the person gave for the checklist's downtime and data lost (None: not given).
    downtime_minutes: float | None = None
    data_lost: str | None = None
    #: How it was resolved (`selfheal resolve`, `PagerDuty`), for the record.
    via: str = "selfheal resolve"
    #: Why no cause was stated (e.g. "resolved in PagerDuty by Ana, no cause given").
    no_cause: str = ""


def _minutes(since: datetime, at: str) -> float:
    return round((datetime.fromisoformat(at) - since).total_seconds() / 60, 1)


def _values(message: Mapping[str, Any], key: str) -> Iterator[Any]:
    """`key` in the message, then in the objects it holds (breadth first): a workflow's
    measurements sit in its progress (`doneBeforeStopping`), not at the top."""
    queue: list[Mapping[str, Any]] = [message]
    while queue:
        here = queue.pop(0)
        if here.get(key) not in (None, "", [], {}):
            yield here[key]
        queue += [v for v in here.values() if isinstance(v, Mapping)]


def _first(message: Mapping[str, Any], keys: tuple[str, ...]) -> Any:
    for key in keys:
        for value in _values(message, key):
            return value
    return None


def data_lost(message: Mapping[str, Any]) -> str:
    lost = _first(message, DATA_LOST_KEYS)
    if lost is None:
        return "not measured"
    if isinstance(lost, int | float) and not isinstance(lost, bool):
        return f"{lost:g} samples"
    return str(lost)


def root_cause(message: Mapping[str, Any]) -> str:
    """The cause the workflow found; else the close's own reason, said as such."""
    found = _first(message, ROOT_CAUSE_KEYS)
    if found is not None:
        return str(found)
    reason = message.get("reason")
    return f"not identified (closed because: {reason})" if reason else "not identified"


def build(
    *,
    incident_id: str,
    system: str,
    severity: str,
    started_at: str,
    paged: Mapping[str, str],
    acknowledged_by: str | None,
    acknowledged_at: str | None,
    resolved_at: str,
    message: Mapping[str, Any],
    by_person: ByPerson | None = None,
) -> dict[str, Any]:
    """The record of one closed chain (times as ISO 8601, minutes after the start);
    `by_person`: a person resolved it, and what they stated stands as theirs."""
    began = datetime.fromisoformat(started_at)
    downtime = _minutes(began, resolved_at)
    record = {
        "incidentId": incident_id,
        "system": system,
        "severity": severity,
        "startedAt": started_at,
        "resolvedAt": resolved_at,
        "levelsPaged": [
            {"level": level, "at": at, "minutesAfterStart": _minutes(began, at)}
            for level, at in sorted(paged.items(), key=lambda kv: kv[1])
        ],
        "acknowledgement": (
            {
                "by": acknowledged_by,
                "at": acknowledged_at,
                "minutesAfterStart": _minutes(began, acknowledged_at),
            }
            if acknowledged_by and acknowledged_at
            else None
        ),
        "downtimeMinutes": downtime,
        "dataLost": data_lost(message),
        "rootCause": root_cause(message),
        "postMortem": downtime > POST_MORTEM_AFTER_MINUTES,
        # "Equipe foi notificada?": the levels paged are the team told (delivered pages).
        "teamNotified": bool(paged),
        # The checklist's judgements are people's: left for them to fill in, never guessed.
        "forPeople": dict.fromkeys(FOR_PEOPLE),
        "why": WHY,
    }
    return _stated(record, by_person) if by_person else record


def _stated(record: dict[str, Any], person: ByPerson) -> dict[str, Any]:
    """A person's resolve: their cause, downtime and data lost replace what the workflow
    reported, each marked as stated by them; what they did not give is left for people
    (`forPeople`), never filled in by the automation."""
    stated: dict[str, str] = {}
    left = dict(record["forPeople"])
    if person.cause:
        record["rootCause"] = person.cause
        stated["rootCause"] = person.by
    else:
        record["rootCause"] = f"not identified ({person.no_cause or 'no cause given'})"
        left["rootCause"] = None
    if person.downtime_minutes is not None:
        record["downtimeMinutes"] = person.downtime_minutes
        record["postMortem"] = person.downtime_minutes > POST_MORTEM_AFTER_MINUTES
        stated["downtimeMinutes"] = person.by
    else:  # the chain's open time is no measured downtime: neither it nor what follows
        record["downtimeMinutes"] = None
        record["postMortem"] = None
        left["downtimeMinutes"] = None
        left["postMortem"] = None
    if person.data_lost:
        record["dataLost"] = person.data_lost
        stated["dataLost"] = person.by
    else:
        left["dataLost"] = None
    return {
        **record,
        "resolvedBy": person.by,
        "resolvedVia": person.via,
        # Who said what: these fields are a person's statement, not the automation's finding.
        "statedBy": stated,
        "forPeople": left,
    }


def summary(record: Mapping[str, Any]) -> str:
    """One line for the audit trail's result."""
    ack = record.get("acknowledgement")
    down = record["downtimeMinutes"]
    if down is None:
        downtime, post_mortem = "downtime not measured (for people)", "post-mortem: for people"
    else:
        downtime = f"down {down:g} min"
        post_mortem = (
            f"post-mortem {'needed (> 1 h down)' if record['postMortem'] else 'not needed'}"
        )
    return (
        f"{downtime}; paged "
        f"{', '.join(p['level'] for p in record['levelsPaged']) or 'nobody'}; "
        f"{'acknowledged by ' + ack['by'] if ack else 'not acknowledged'}; "
        f"{post_mortem}"
        + (f"; resolved by {record['resolvedBy']}" if record.get("resolvedBy") else "")
    )
