"""The Aupus ingestion backend as real managed hosts (issue 21 item 2, runbook 004): the
`aupus-api` stand-in (`app.py`, run by each host's pm2), its database (`database.py`: one
per deployment, a role per instance) and the hosts (`host.py`) with their real faults."""

from .database import AupusDatabase, Row, topic
from .host import PM2_APP, AupusDeployment, AupusHost, Feed, Mark, publish

__all__ = [
    "PM2_APP",
    "AupusDatabase",
    "AupusDeployment",
    "AupusHost",
    "Feed",
    "Mark",
    "Row",
    "publish",
    "topic",
]
