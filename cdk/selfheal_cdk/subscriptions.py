"""Who is behind each page topic: deploy-time configuration, never code.

A topic with no subscription pages nobody, so the stacks subscribe people (e-mail, SMS) and
paging services (an HTTPS endpoint such as a PagerDuty integration that accepts SNS
messages) from a JSON file named by `-c selfheal:subscriptions=<path>`; the repository
carries only an example (`config/subscriptions.example.json`). Bad entries are refused
naming the field, since a typo here means a page that silently reaches nobody.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Literal
from urllib.parse import urlparse

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator, model_validator

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
