"""The work the RQ worker does: one evaluation, written to PostgreSQL."""

from __future__ import annotations

import os

import psycopg


def evaluate(n: int) -> int:
    with psycopg.connect(os.environ["DATABASE_URL"], connect_timeout=2) as db:
        db.execute(
            "CREATE TABLE IF NOT EXISTS evaluations (n integer, at timestamptz DEFAULT now())"
        )
        db.execute("INSERT INTO evaluations (n) VALUES (%s)", (n,))
    return n
