"""The platform domain's world: what the ONS data platform's maintenance window acts on
(`maintenance_world.py`), seeded by the tests that need it."""

from .maintenance_world import (
    HEALTH_FUNCTIONS,
    MaintenanceWorld,
    seed_maintenance,
)

__all__ = ["HEALTH_FUNCTIONS", "MaintenanceWorld", "seed_maintenance"]
