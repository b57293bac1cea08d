"""The Equivalence Engine's host (runbook 002), for real: PostgreSQL (Debian, one cluster per
test session, a database per host), Redis (Debian) with an RQ worker (PyPI `rq`) consuming
a real queue, and a small Equivalence API using both, run by pm2 on a managed host that the
local SSM agent runs commands on. `docker compose` on that host is a thin command over pm2
(there is no Docker engine here): `ps`, `restart`, `logs`, `stop`, `start`."""

from local.world_api import PostgresCluster
from local.world_api import shared_postgres as shared

from .host import EquivalenceHost

__all__ = ["EquivalenceHost", "PostgresCluster", "shared"]
