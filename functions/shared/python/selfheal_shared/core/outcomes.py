"""Typed results: a remediator never says "success" without saying which kind."""

from __future__ import annotations

from enum import StrEnum


class Outcome(StrEnum):
    FIXED = "FIXED"
    NOT_FIXED = "NOT_FIXED"
    #: Checked and found healthy (or already recovered): nothing to do, nothing done. Not a
    #: guard's refusal: no incident is left open.
    NO_ACTION_NEEDED = "NO_ACTION_NEEDED"
    SKIPPED_BY_GUARD = "SKIPPED_BY_GUARD"
    ESCALATED = "ESCALATED"
    FAILED = "FAILED"
