"""Typed results: a remediator never says "success" without saying which kind."""

from __future__ import annotations

from enum import StrEnum


class Outcome(StrEnum):
    FIXED = "FIXED"
    NOT_FIXED = "NOT_FIXED"
    SKIPPED_BY_GUARD = "SKIPPED_BY_GUARD"
    ESCALATED = "ESCALATED"
    FAILED = "FAILED"
