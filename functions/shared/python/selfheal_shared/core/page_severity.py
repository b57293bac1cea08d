"""The severity a page carries as its SNS `severity` message attribute, so a subscriber can
take only some severities (runbook 003 §7.2: SMS critical, e-mail critical/high, Slack
critical/high/medium) through an SNS filter policy, without reading the body.

The value is the one the page shows (`page_text.severity`): the incident's own severity
first (SEV-2 for the inference service), else the message's (P1 for a battery page). Only a
grade an escalation policy names is carried: a policy with several ladders grades its
incidents (P1..P4, SEV-1..SEV-3); a one-ladder policy's ladder name ("incident") grades
nothing. A notice with no grade carries no `severity` attribute, and the filter policy of
every subscriber that names severities also takes an absent one (`{"exists": false}`), so an
ungraded notice still reaches everyone (SNS's `exists: false` needs some other attribute:
`level` is always there).
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from typing import Any

from . import escalation_policy

#: The message attribute a subscription's filter policy reads.
ATTRIBUTE = "severity"


@cache
def grades() -> frozenset[str]:
    """Every severity an escalation policy grades incidents by (a policy's ladders, when it
    has more than one): what a page may carry and a subscriber may name."""
    found: set[str] = set()
    for system in escalation_policy.systems():
        severities = escalation_policy.load(system).severities
        if len(severities) > 1:
            found |= set(severities)
    return frozenset(found)


def of(message: Mapping[str, Any]) -> str | None:
    """The page's grade: the incident's own severity, else the message's; None if neither
    is a grade."""
    incident = message.get("incident")
    for source in (incident if isinstance(incident, Mapping) else {}, message):
        value = source.get("severity")
        if isinstance(value, str) and value in grades():
            return value
    return None


def attributes(message: Mapping[str, Any]) -> dict[str, dict[str, str]]:
    """`{"severity": ...}` for `MessageAttributes`, or nothing for an ungraded notice."""
    grade = of(message)
    return {ATTRIBUTE: {"DataType": "String", "StringValue": grade}} if grade else {}
