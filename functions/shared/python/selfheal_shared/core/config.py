"""Settings read from the environment the CDK (or the local runtime) gives every function."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field


#: The function's environment: `os.environ` in AWS. The local runtime swaps it for the
#: variables the CDK gives the function that is running (local/iam_enforcement.py).
def _os_environ() -> Mapping[str, str]:
    return os.environ


environ: Callable[[], Mapping[str, str]] = _os_environ


def env(name: str, default: str = "") -> str:
    """One variable of the function's environment (every reader goes through here)."""
    return environ().get(name, default)


def _flag(name: str, default: str) -> bool:
    return env(name, default).strip().lower() in {"1", "true", "yes", "on"}


@dataclass(frozen=True)
class Settings:
    audit_table: str
    idempotency_table: str
    guard_table: str
    topics: dict[str, str]
    dry_run: bool
    recent_deploy_hours: int
    #: S3 buckets by kind (`spec.BUCKETS`): data (EMS exports), reports, models.
    buckets: dict[str, str] = field(default_factory=dict)

    def topic(self, level: str) -> str:
        try:
            return self.topics[level]
        except KeyError:
            raise KeyError(f"no SNS topic configured for level {level!r}") from None

    def bucket(self, kind: str) -> str:
        name = self.buckets.get(kind)
        if not name:
            raise KeyError(f"no S3 bucket configured for {kind!r} (SELFHEAL_BUCKET_{kind.upper()})")
        return name


def settings() -> Settings:
    env = environ()
    return Settings(
        audit_table=env.get("SELFHEAL_TABLE_AUDIT", ""),
        idempotency_table=env.get("SELFHEAL_TABLE_IDEMPOTENCY", ""),
        guard_table=env.get("SELFHEAL_TABLE_GUARD_STATE", ""),
        topics={
            level: env[f"SELFHEAL_TOPIC_{level.upper()}"]
            for level in ("ops", "l1", "l2", "l3", "l4", "security", "reports")
            if f"SELFHEAL_TOPIC_{level.upper()}" in env
        },
        # Safe default: a deployment without an explicit choice records but does not act.
        dry_run=_flag("SELFHEAL_DRY_RUN", "true"),
        recent_deploy_hours=int(env.get("SELFHEAL_RECENT_DEPLOY_HOURS", "24")),
        buckets={
            kind: env[f"SELFHEAL_BUCKET_{kind.upper()}"]
            for kind in ("data", "reports", "models")
            if env.get(f"SELFHEAL_BUCKET_{kind.upper()}")
        },
    )
