"""What a page says, per channel (issue 23 item 4): one SNS `Publish` with
`MessageStructure="json"` carries the full JSON for HTTP/HTTPS, SQS and Lambda subscribers
(`default`), a readable full text for e-mail (`email`) and one short line for SMS (`sms`).

Pure: built only from the message the caller publishes, which holds what was recorded, so
a page never says more than was done. Free text copied from hosts (reasons, log excerpts,
evidence) goes through `redact` in the e-mail and the SMS; selfheal's own identifiers do not.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from . import redact

#: SNS SMS: one message is 140 bytes (160 GSM-7 characters); stay in one, in ASCII.
SMS_MAX = 140
#: SNS Publish: at most 256 KB for the whole structured message (every protocol's copy).
PUBLISH_MAX_BYTES = 262_144
PREFIX = "[selfheal] "
#: Where the affected thing is named, most specific first (message, then its `incident`).
TARGET_KEYS = ("edgeId", "service", "site", "scope", "mapper", "target", "system", "resource")
#: Free text from outside selfheal: redacted before it reaches a person.
FOUND_KEYS = ("summary", "reason", "cause", "evidence", "whatFixedIt")
LOG_KEYS = ("logs", "logExcerpt", "logLines", "output")
#: An explicit next step the workflow gave (a decision body, a request to people).
NEXT_KEYS = ("nextStep", "decide", "request")
UNFIXED = ("NOT_FIXED", "FAILED", "SKIPPED_BY_GUARD", "ESCALATED")


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, sort_keys=True, default=str, ensure_ascii=False)


def _clean(value: Any) -> str:
    return redact.text(_text(value)).strip()


def redacted(message: Mapping[str, Any]) -> dict[str, Any]:
    """The message with its free text from hosts (found and log keys) redacted, in every
    channel: ids, times and recorded steps are selfheal's own and stay as they are."""
    return {k: (_redact(v) if k in FOUND_KEYS + LOG_KEYS else v) for k, v in message.items()}


def _redact(value: Any) -> Any:
    """`value` with its strings redacted, its shape kept (a list stays a list)."""
    if isinstance(value, str):
        return redact.text(value)
    if isinstance(value, list):
        return [_redact(v) for v in value]
    if isinstance(value, Mapping):
        return {k: _redact(v) for k, v in value.items()}
    return value


def incident_id(message: Mapping[str, Any]) -> str:
    return str(message.get("incidentId") or message.get("dedupKey") or "")


def target(message: Mapping[str, Any]) -> str:
    """What the page is about: the edge, service, site... or the automation."""
    incident = message.get("incident")
    for source in (message, incident if isinstance(incident, Mapping) else {}):
        for key in TARGET_KEYS:
            if isinstance(source.get(key), str) and source[key]:
                return str(source[key])
    return str(message.get("automation") or "selfheal")


def severity(message: Mapping[str, Any]) -> str:
    """The incident's own severity (SEV-2, P1) first: a chain's is its policy's ladder name,
    which for a one-ladder runbook (003, 004) says nothing ("incident")."""
    incident = message.get("incident")
    found = (incident.get("severity") if isinstance(incident, Mapping) else None) or message.get(
        "severity"
    )
    return str(found or message.get("outcome") or "INFO")


def runbook(message: Mapping[str, Any]) -> str:
    """The runbook section the workflow named (the message's, else its incident's)."""
    incident = message.get("incident")
    found = message.get("runbook") or (
        incident.get("runbook") if isinstance(incident, Mapping) else None
    )
    return _clean(found) if found else ""


def what(subject: str, message: Mapping[str, Any]) -> str:
    """What happened, in the words of the subject the caller chose."""
    text = subject[len(PREFIX) :] if subject.startswith(PREFIX) else subject
    return text.strip() or str(message.get("outcome") or message.get("kind") or "notice")


def sms(subject: str, message: Mapping[str, Any]) -> str:
    """One line of at most `SMS_MAX` characters: severity, target, what happened, the
    incident id and, for a page of a page chain (the only thing `selfheal ack` takes), how
    to acknowledge it."""
    iid = incident_id(message)
    kind = message.get("kind")
    head = f"{'RESOLVED' if kind == 'resolve' else severity(message)} {target(message)}: "
    tail = (f" | ack: selfheal ack {iid}" if kind == "page" else f" | {iid}") if iid else ""
    body = redact.text(what(subject, message))
    room = SMS_MAX - len(head) - len(tail)
    if len(body) > room:
        body = body[: max(room - 3, 0)].rstrip() + "..." if room > 3 else ""
    return (head + body + tail)[:SMS_MAX]


def _undo(message: Mapping[str, Any]) -> list[str]:
    undo = message.get("undo")
    if isinstance(undo, list):
        return [_clean(u) for u in undo if u]
    return [_clean(undo)] if undo else []


def _not_done(message: Mapping[str, Any]) -> list[str]:
    """What selfheal could not do, from what the workflow reported: a refusal, an error, an
    outcome that is not FIXED."""
    out = []
    if message.get("notDone"):
        out.append(_clean(message["notDone"]))
    refusal = message.get("refusal")
    if isinstance(refusal, Mapping):
        out.append(f"held back by a guard: {_clean(refusal.get('reason') or refusal)}")
    if message.get("outcome") in UNFIXED:
        out.append(f"outcome {message['outcome']}: the problem is not fixed by selfheal")
    return out


def _next_step(message: Mapping[str, Any], section: str) -> str:
    for key in NEXT_KEYS:
        if message.get(key):
            return _clean(message[key])
    iid = incident_id(message)
    if message.get("kind") == "resolve":
        record = message.get("postIncident")
        if isinstance(record, Mapping) and record.get("postMortem"):
            return "schedule the post-mortem (down more than 1 h: runbook 004 checklist)"
        return "none: the incident has ended (see the post-incident record)"
    where = f" ({section})" if section else ""
    if message.get("kind") == "page" and iid:
        return f"take it: selfheal ack {iid} --by <you>, then follow the runbook{where}"
    return f"read the audit trail of {iid or 'the incident'}{where}"


def _post_incident(record: Any) -> list[str]:
    if not isinstance(record, Mapping):
        return []
    ack = record.get("acknowledgement")
    acked = f"{ack['by']} at {ack['minutesAfterStart']:g} min" if isinstance(ack, Mapping) else "no"
    paged = record.get("levelsPaged") or []
    down = record.get("downtimeMinutes")
    mortem = "needed (more than 1 h down)" if record.get("postMortem") else "not needed"
    if down is None:  # a person resolved it and gave no downtime: theirs to fill in
        mortem = "for people to decide (downtime not measured)"
    return [
        "",
        "Post-incident record (runbook 004 checklist):",
        f"- downtime: {'not measured (for people)' if down is None else f'{down} min'}",
        "- paged: "
        + (", ".join(f"{p['level']} at {p['minutesAfterStart']:g} min" for p in paged) or "-"),
        f"- acknowledged: {acked}",
        f"- data lost: {_clean(record.get('dataLost'))}",
        f"- root cause: {_clean(record.get('rootCause'))}",
        f"- post-mortem: {mortem}",
    ]


def email(subject: str, message: Mapping[str, Any], *, whole: bool = True) -> str:
    """The full readable text: every part of the page, then (`whole`) the whole message."""
    section = runbook(message)
    found = [f"- {_clean(message[k])}" for k in FOUND_KEYS if message.get(k)]
    done = message["done"] if isinstance(message.get("done"), list) else []
    logs = [_clean(message[k]) for k in LOG_KEYS if message.get(k)]
    lines = [
        what(subject, message),
        "",
        f"Severity: {severity(message)}",
        f"System: {target(message)}",
        f"Incident: {incident_id(message) or '-'}",
        *(
            [f"Level: {message['level']} ({message.get('who', '')})"]
            if message.get("level")
            else []
        ),
        f"Runbook: {section or 'not named by the workflow'}",
        "",
        "Found:",
        *(found or ["- nothing reported"]),
        "",
        "Done by selfheal (as recorded):",
        *([f"- {_clean(d)}" for d in done] or ["- nothing recorded"]),
        "Undo:",
        *([f"- {u}" for u in _undo(message)] or ["- nothing to undo recorded"]),
        "",
        "Not done by selfheal:",
        *([f"- {n}" for n in _not_done(message)] or ["- nothing reported"]),
        "",
        f"Next step: {_next_step(message, section)}",
    ]
    if logs:
        lines += ["", "Log excerpts (redacted):", *logs]
    lines += _post_incident(message.get("postIncident"))
    if whole:
        full = json.dumps(redacted(message), indent=2, sort_keys=True, default=str)
        lines += ["", "Full message:", full]
    else:
        lines += ["", "Full message: too long for one e-mail; the JSON (HTTPS) page holds it"]
    return "\n".join(lines)


def structured(subject: str, message: Mapping[str, Any]) -> str:
    """The `Message` of a `MessageStructure="json"` publish: `default` is the message's JSON
    (free text redacted) as every subscriber read it before (HTTP/HTTPS, SQS, Lambda: SNS
    gives a protocol without its own key the `default`), `email` and `sms` the texts above."""
    default = json.dumps(redacted(message), sort_keys=True, default=str)
    out = {"default": default, "email": email(subject, message), "sms": sms(subject, message)}
    if len(json.dumps(out).encode()) > PUBLISH_MAX_BYTES:  # the e-mail's copy of it goes
        out["email"] = email(subject, message, whole=False)
    return json.dumps(out)
