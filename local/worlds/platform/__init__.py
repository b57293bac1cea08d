"""The platform domain's world (`cost_hygiene`, runbook 001 D6): the data platform's project
functions with their published versions, aliases and CodeDeploy deployments, its log
groups and its raw bucket's lifecycle rules (`cost.py`)."""

from .cost import CostWorld, Deployment, ProjectFunction, seed, state

__all__ = ["CostWorld", "Deployment", "ProjectFunction", "seed", "state"]
