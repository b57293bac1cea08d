"""Who is behind each page topic: deploy-time configuration, never code.

A topic with no subscription pages nobody, so the stacks subscribe people (e-mail, SMS) and
paging services (an HTTPS endpoint such as a PagerDuty integration that accepts SNS
messages) from a JSON file named by `-c selfheal:subscriptions=<path>`; the repository
carries only an example (`config/subscriptions.example.json`). Bad entries are refused
naming the field, since a typo here means a page that silently reaches nobody.

A subscriber may take only some severities (`severities`, runbook 003 §7.2: SMS critical,
e-mail critical/high, Slack critical/high/medium): its subscription gets an SNS filter policy
on the `severity` attribute every page carries (`selfheal_shared.core.page_severity`), and
also takes a notice that carries none, so only a graded page is ever held back. The names are
the grades the escalation policies know (P1..P4, SEV-1..SEV-3), checked here: the topics are
shared by every system, so one subscriber's list covers each system's scale.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlparse

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator, model_validator
from selfheal_shared.core import page_severity

from .spec import TOPICS

EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
#: E.164, what SNS SMS takes.
PHONE = re.compile(r"^\+[1-9]\d{6,14}$")


class Subscriber(BaseModel):
    model_config = ConfigDict(extra="forbid")

    protocol: Literal["email", "email-json", "sms", "https"]
    endpoint: str
    #: HTTPS only: the message body without the SNS envelope (what a plain webhook expects).
    rawMessageDelivery: bool = False
    #: Only pages of these severities (and every notice without one); None: everything.
    severities: list[str] | None = None

    @field_validator("severities")
    @classmethod
    def _known_severities(cls, severities: list[str] | None) -> list[str] | None:
        if severities is None:
            return None
        known = sorted(page_severity.grades())
        if not severities:
            raise ValueError(f"empty: it would take no page; name some of {known} or leave it out")
        if unknown := [s for s in severities if s not in known]:
            raise ValueError(
                f"unknown severity(ies) {unknown}; the escalation policies know {known}"
            )
        return list(dict.fromkeys(severities))

    def filter_policy(self) -> dict[str, list[Any]] | None:
        """The SNS filter policy of its subscription: no severity at all, or one of its
        severities. (The absent case first: SNS reads the list in any order, moto in this one,
        and stops at a value when the attribute is absent.)"""
        if self.severities is None:
            return None
        return {page_severity.ATTRIBUTE: [{"exists": False}, *self.severities]}

    @model_validator(mode="after")
    def _endpoint_fits_protocol(self) -> Subscriber:
        ok = {
            "email": EMAIL.match(self.endpoint),
            "email-json": EMAIL.match(self.endpoint),
            "sms": PHONE.match(self.endpoint),
            "https": _https(self.endpoint),
        }[self.protocol]
        if not ok:
            raise ValueError(f"endpoint {self.endpoint!r} is not a valid {self.protocol} endpoint")
        if self.rawMessageDelivery and self.protocol != "https":
            raise ValueError("rawMessageDelivery applies to https subscriptions only")
        return self


def _https(url: str) -> bool:
    parts = urlparse(url)
    return parts.scheme == "https" and bool(parts.hostname)


class Subscriptions(BaseModel):
    """Topic level → its subscribers."""

    model_config = ConfigDict(extra="forbid")

    levels: dict[str, list[Subscriber]]

    @field_validator("levels")
    @classmethod
    def _known_levels(cls, levels: dict[str, list[Subscriber]]) -> dict[str, list[Subscriber]]:
        if unknown := sorted(set(levels) - set(TOPICS)):
            raise ValueError(f"unknown topic level(s) {unknown}; the levels are {list(TOPICS)}")
        return levels

    @property
    def count(self) -> int:
        return sum(len(s) for s in self.levels.values())


def load(path: str | Path) -> Subscriptions:
    """The file's subscriptions; a clear error naming the file and the field otherwise."""
    path = Path(path)
    try:
        return Subscriptions.model_validate(json.loads(path.read_text()))
    except FileNotFoundError as e:
        raise ValueError(f"subscriptions file {path} does not exist") from e
    except json.JSONDecodeError as e:
        raise ValueError(f"subscriptions file {path} is not JSON: {e}") from e
    except ValidationError as e:
        where = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in e.errors()
        )
        raise ValueError(f"subscriptions file {path}: {where}") from e
