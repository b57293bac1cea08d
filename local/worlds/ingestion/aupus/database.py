"""The Aupus backend's PostgreSQL database, one per deployment: the primary's and the
backup's instances write the same `equipamentos_dados`, whose unique key (equipment,
timestamp) is what makes two instances in production collide (runbook 004 "Erro P2002").

The schema is the deployment's migration (as `prisma migrate deploy` would run it), never
the backend's. Each instance logs in with a role of its own, granted what the backend
needs, so a fence can revoke one instance's writes without its cooperation."""

from __future__ import annotations

import itertools
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

import psycopg
from psycopg import sql
from psycopg.types.json import Jsonb

if TYPE_CHECKING:
    from local.world_api import PostgresCluster

SCHEMA = """
CREATE TABLE IF NOT EXISTS equipamentos (
    id text PRIMARY KEY,
    nome text NOT NULL,
    topico_mqtt text NOT NULL
);
CREATE TABLE IF NOT EXISTS equipamentos_dados (
    id serial PRIMARY KEY,
    equipamento_id text NOT NULL,
    ts timestamptz NOT NULL,
    payload jsonb NOT NULL,
    instance_id text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (equipamento_id, ts)
);
CREATE INDEX IF NOT EXISTS equipamentos_dados_created_at ON equipamentos_dados (created_at);
"""
#: A database per deployment in this process's cluster.
_SERIAL = itertools.count(1)


def topic(equipamento: str) -> str:
    """Where an equipment publishes its readings."""
    return f"aupus/{equipamento}/dados"


@dataclass(frozen=True)
class Row:
    """One saved reading, and which instance saved it."""

    equipamento_id: str
    ts: datetime
    payload: dict[str, Any]
    instance_id: str
    created_at: datetime


@dataclass
class AupusDatabase:
    cluster: PostgresCluster
    name: str = ""
    roles: list[str] = field(default_factory=list)

    @classmethod
    def create(cls, cluster: PostgresCluster) -> AupusDatabase:
        if not cluster.running():
            cluster.start()
        name = f"aupus_{os.getpid()}_{next(_SERIAL)}"
        cluster.create_database(name)
        return cls(cluster, name)

    @property
    def admin_url(self) -> str:
        return self.cluster.url(self.name)

    def url(self, role: str) -> str:
        return f"postgresql://{role}@127.0.0.1:{self.cluster.port}/{self.name}"

    def _admin(self) -> psycopg.Connection[Any]:
        return psycopg.connect(self.admin_url, autocommit=True, connect_timeout=5)

    def migrate(self, equipment: Sequence[str]) -> None:
        """The schema, and the known equipment (what `/health/metrics` counts coverage
        against). Idempotent: each host's build runs it."""
        with self._admin() as db:
            db.execute(SCHEMA)
            for eq in equipment:
                db.execute(
                    "INSERT INTO equipamentos (id, nome, topico_mqtt) VALUES (%s, %s, %s) "
                    "ON CONFLICT (id) DO NOTHING",
                    (eq, eq.upper(), topic(eq)),
                )

    def register(self, equipment: Sequence[str]) -> None:
        """Equipment registered while the backends run: they subscribe to its topic only at
        their next start (runbook 004 "Recarregar tópicos MQTT")."""
        self.migrate(equipment)

    def refuse_connections(self, refuse: bool = True) -> None:
        """The database down for the backends: new connections refused ("database ... is not
        currently accepting connections") and the open ones ended; the cluster itself, and
        the administrator's connection, stay up."""
        # From the cluster's own database: nobody, not even the owner, connects to this one
        # while it refuses.
        with psycopg.connect(self.cluster.url("postgres"), autocommit=True) as db:
            ident = sql.Identifier(self.name)
            db.execute(sql.SQL("ALTER DATABASE {} ALLOW_CONNECTIONS {}").format(
                ident, sql.SQL("false" if refuse else "true")))  # fmt: skip
            if refuse:
                db.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = %s AND pid <> pg_backend_pid()",
                    (self.name,),
                )

    def role(self, role: str) -> str:
        """A login role for one instance (roles are the cluster's: made once, granted in
        each database), granted what the backend needs; its DATABASE_URL."""
        with self._admin() as db:
            exists = db.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone()
            if not exists:
                db.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(role)))
            ident = sql.Identifier(role)
            db.execute(
                sql.SQL("GRANT SELECT ON equipamentos, equipamentos_dados TO {}").format(ident)
            )
            db.execute(sql.SQL("GRANT INSERT ON equipamentos_dados TO {}").format(ident))
            db.execute(
                sql.SQL("GRANT USAGE ON SEQUENCE equipamentos_dados_id_seq TO {}").format(ident)
            )
        self.roles.append(role)
        return self.url(role)

    def revoke_insert(self, role: str) -> None:
        """The fence: the role can no longer write readings (effective at its next INSERT)."""
        with self._admin() as db:
            db.execute(
                sql.SQL("REVOKE INSERT ON equipamentos_dados FROM {}").format(sql.Identifier(role))
            )

    def grant_insert(self, role: str) -> None:
        with self._admin() as db:
            db.execute(
                sql.SQL("GRANT INSERT ON equipamentos_dados TO {}").format(sql.Identifier(role))
            )

    def insert(self, rows: Sequence[tuple[str, datetime, dict[str, Any], str, datetime]]) -> None:
        """Readings saved earlier (equipamento_id, ts, payload, instance_id, created_at): what
        a backend wrote before the test began."""
        with self._admin() as db:
            for eq, ts, payload, instance, created in rows:
                db.execute(
                    "INSERT INTO equipamentos_dados (equipamento_id, ts, payload, instance_id, "
                    "created_at) VALUES (%s, %s, %s, %s, %s)",
                    (eq, ts, Jsonb(payload), instance, created),
                )

    def rows(self) -> list[Row]:
        with self._admin() as db:
            found = db.execute(
                "SELECT equipamento_id, ts, payload, instance_id, created_at "
                "FROM equipamentos_dados ORDER BY id"
            ).fetchall()
        return [Row(*r) for r in found]

    def age(self, hours: float) -> None:
        """Every saved reading arrived `hours` earlier than it did: the data goes stale
        without waiting (`/health/dados-recentes` reads `created_at`)."""
        with self._admin() as db:
            db.execute(
                "UPDATE equipamentos_dados SET created_at = created_at - make_interval(secs => %s)",
                (hours * 3600,),
            )
