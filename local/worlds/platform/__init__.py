"""The platform domain's world (runbook 001's daily operations): the security checks' IAM
users, keys, policy changes, security groups and SECURITY log lines (`security.py`)."""

from .security import (
    SecuritySpec,
    SecurityWorld,
    SecurityWorldPart,
    live_until,
)

__all__ = ["SecuritySpec", "SecurityWorld", "SecurityWorldPart", "live_until"]
