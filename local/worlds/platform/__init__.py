"""The platform domain's world (runbook 001's daily operations): the data platform's project
functions with their versions, aliases and CodeDeploy deployments, log groups and raw
bucket lifecycle (`cost.py`, D6); the security checks' IAM users, keys, policy changes,
security groups and SECURITY log lines (`security.py`, D8); what the maintenance window acts
on, seeded by the tests that need it (`maintenance_world.py`, D7)."""

from .cost import CostWorld, Deployment, ProjectFunction, seed, state
from .maintenance_world import HEALTH_FUNCTIONS, MaintenanceWorld, seed_maintenance
from .security import (
    SecuritySpec,
    SecurityWorld,
    SecurityWorldPart,
    live_until,
)

__all__ = [
    "HEALTH_FUNCTIONS",
    "CostWorld",
    "Deployment",
    "MaintenanceWorld",
    "ProjectFunction",
    "SecuritySpec",
    "SecurityWorld",
    "SecurityWorldPart",
    "live_until",
    "seed",
    "seed_maintenance",
    "state",
]
