"""Settings read from the environment the CDK (or the local runtime) gives every function."""

from __future__ import annotations

import os
from dataclasses import dataclass


def _flag(name: str, default: str) -> bool:
    return os.environ.get(name, default).strip().lower() in {"1", "true", "yes", "on"}


@dataclass(frozen=True)
class Settings:
    audit_table: str
    idempotency_table: str
    guard_table: str
    topics: dict[str, str]
    dry_run: bool
    recent_deploy_hours: int

    def topic(self, level: str) -> str:
        try:
            return self.topics[level]
        except KeyError:
            raise KeyError(f"no SNS topic configured for level {level!r}") from None


def settings() -> Settings:
    env = os.environ
    return Settings(
        audit_table=env.get("SELFHEAL_TABLE_AUDIT", ""),
        idempotency_table=env.get("SELFHEAL_TABLE_IDEMPOTENCY", ""),
        guard_table=env.get("SELFHEAL_TABLE_GUARD_STATE", ""),
        topics={
            level: env[f"SELFHEAL_TOPIC_{level.upper()}"]
            for level in ("ops", "l1", "l2", "l3")
            if f"SELFHEAL_TOPIC_{level.upper()}" in env
        },
        # Safe default: a deployment without an explicit choice records but does not act.
        dry_run=_flag("SELFHEAL_DRY_RUN", "true"),
        recent_deploy_hours=int(env.get("SELFHEAL_RECENT_DEPLOY_HOURS", "24")),
    )
