"""Each system's escalation policy, read from its file (`events/escalation/<system>.json`),
and the one rule that says who is paged when.

Every runbook names its own ladder (000 by severity, 001 by team, 003 L1-L4 at
15/30/60/120 minutes, 004 0-30/30-60/60+), so the ladders are data, one file per system,
each citing where its runbook says it; no workflow computes its own. The CDK stages the
files into the shared layer (`selfheal_shared/escalation/`); locally they are read from the
repository. A file with an unknown level or a negative time is refused naming the field.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from . import layer_files

#: Where the policies are: the layer's copy first, then the repository's.
PACKAGED = Path(__file__).parents[1] / "escalation"
REPOSITORY = Path(__file__).resolve().parents[5] / "events" / "escalation"
#: The page topics a level may name (the core stack's, `spec.TOPICS` less `reports`):
#: `security` is runbook 001's security contact ("Incidentes de Segurança").
PAGE_TOPICS = ("ops", "l1", "l2", "l3", "l4", "security")
SYSTEM = re.compile(r"^[a-z0-9][a-z0-9-]{1,40}$")


class Level(BaseModel):
    model_config = ConfigDict(extra="forbid")

    #: Who is behind the level, as the runbook names them.
    who: str = Field(min_length=2)
    topic: str

    @model_validator(mode="after")
    def _known_topic(self) -> Level:
        if self.topic not in PAGE_TOPICS:
            raise ValueError(f"topic {self.topic!r} is not one of {', '.join(PAGE_TOPICS)}")
        return self


class SeverityPolicy(BaseModel):
    model_config = ConfigDict(extra="forbid")

    #: Level → minutes after the incident's start at which it is paged (unacknowledged).
    pages: dict[str, int]
    #: The response the runbook asks for, in minutes (None: "next business day").
    respondWithinMinutes: int | None = Field(default=None, ge=1)
    #: Where a severity that pages nobody goes instead (a ticket for the next business day).
    ticket: str | None = None

    @model_validator(mode="after")
    def _times(self) -> SeverityPolicy:
        if negative := sorted(k for k, v in self.pages.items() if v < 0):
            raise ValueError(f"pages.{negative[0]}: a page time cannot be negative")
        if not self.pages and self.ticket is None:
            raise ValueError("pages: empty, and no ticket says where the incident goes")
        return self


class Policy(BaseModel):
    model_config = ConfigDict(extra="forbid")

    system: str
    runbook: str = Field(pattern=r"^\d{3}$")
    #: Where the runbook says it (section and words), and what selfheal chose where it is silent.
    why: str = Field(min_length=20)
    levels: dict[str, Level]
    severities: dict[str, SeverityPolicy]
    # No re-notification field: no runbook gives one, and the paging service behind a
    # level's topic (a PagerDuty escalation policy) re-notifies its own responders; a
    # policy that names one is refused (extra fields are) rather than silently ignored.

    @model_validator(mode="after")
    def _levels_exist(self) -> Policy:
        if not SYSTEM.match(self.system):
            raise ValueError(f"system: {self.system!r} is not a system name")
        for sev, policy in self.severities.items():
            for level in policy.pages:
                if level not in self.levels:
                    raise ValueError(
                        f"severities.{sev}.pages.{level}: unknown level "
                        f"(the levels are {', '.join(self.levels)})"
                    )
            if policy.ticket is not None and policy.ticket not in self.levels:
                raise ValueError(f"severities.{sev}.ticket: unknown level {policy.ticket!r}")
        return self

    def schedule(self, severity: str) -> list[tuple[str, int]]:
        """(level, minutes) in paging order for `severity`."""
        try:
            pages = self.severities[severity].pages
        except KeyError:
            raise self._unknown(severity) from None
        return sorted(pages.items(), key=lambda kv: kv[1])

    def ladder_for(self, severity: str) -> str:
        """The policy's severity for an incident of `severity`: itself, or the one ladder of
        a runbook whose ladder does not depend on severity (001, 003, 004)."""
        if severity in self.severities:
            return severity
        if len(self.severities) == 1:
            return next(iter(self.severities))
        raise self._unknown(severity)

    def _unknown(self, severity: str) -> ValueError:
        known = ", ".join(self.severities)
        return ValueError(f"severity: {severity!r} is not in {self.system}'s policy ({known})")

    def topic(self, level: str) -> str:
        return self.levels[level].topic

    def with_pages(self, overrides: dict[str, dict[str, int]]) -> Policy:
        """This policy with an operator's page times for the severities they name (a
        deployment's override; the others keep the runbook's)."""
        severities = {
            sev: p.model_copy(update={"pages": dict(overrides[sev])}) if overrides.get(sev) else p
            for sev, p in self.severities.items()
        }
        return self.model_copy(update={"severities": severities})


@dataclass(frozen=True)
class Due:
    """The level to page now (if any) and the minute of the next page (None: no more)."""

    level: str | None
    next_at: float | None


def due(
    policy: Policy,
    severity: str,
    minutes: float,
    paged: list[str] | set[str],
    *,
    acknowledged: bool = False,
) -> Due:
    """Who to page `minutes` after the incident began: the first level not yet paged whose
    time has come. An acknowledged chain pages nobody more (the incident stays open)."""
    if acknowledged:
        return Due(None, None)
    for level, at in policy.schedule(severity):
        if level in paged:
            continue
        if minutes >= at:
            return Due(level, None)
        return Due(None, float(at))
    return Due(None, None)


def parse(data: object, source: str) -> Policy:
    """The policy, or a ValueError naming the source and the field."""
    try:
        return Policy.model_validate(data)
    except ValidationError as e:
        where = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or '<root>'}: {err['msg']}"
            for err in e.errors()
        )
        raise ValueError(f"escalation policy {source}: {where}") from e


def path(system: str) -> Path:
    return layer_files.find(f"{system}.json", PACKAGED, REPOSITORY, "escalation policy")


@cache
def load(system: str) -> Policy:
    file = path(system)
    policy = parse(json.loads(file.read_text()), file.name)
    if policy.system != system:
        raise ValueError(f"escalation policy {file.name}: system: says {policy.system!r}")
    return policy


def systems() -> list[str]:
    """Every system with a policy: the layer's copy in AWS, the repository's locally."""
    folder = PACKAGED if PACKAGED.is_dir() else REPOSITORY
    return sorted(p.stem for p in folder.glob("*.json"))
