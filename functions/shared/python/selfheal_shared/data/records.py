"""Counting a scope's records in its time-series store (runbook 001 "Verificar integridade
dos dados": `from(bucket: "energy_data") |> range(start: -24h) |> count()`), pure: the
store's registration, the query, and reading its answer. No I/O here.

The store is InfluxDB (Amazon Timestream for InfluxDB in AWS). The query is InfluxQL on
the `/query` endpoint, which InfluxDB 1.x serves and 2.x (Timestream's) keeps as its v1
compatibility API, so one query works on both. Its time bounds are explicit instants of
the caller's clock, never `now()`: the store's clock is not the workflow's.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

DAY = timedelta(days=1)
#: Identifiers go into the query quoted; this keeps a quote or a newline out of them.
IDENTIFIER = r"^[A-Za-z0-9_][A-Za-z0-9_.:-]{0,127}$"
#: What a resume must name when the integrity check could not count the records.
UNVERIFIED = "integrity-unverified"
#: Records that carry no source tag, counted as one source so none goes unseen.
UNTAGGED = "(no source tag)"


class StoreConfig(BaseModel):
    """A scope's time-series store, registered in Parameter Store
    (`parameter_name(scope)`, JSON). Credentials are never here: `secretArn` names the
    Secrets Manager secret holding `{"username": ..., "password": ...}` (on Timestream for
    InfluxDB 2.x, the v1-compatible user and its token)."""

    model_config = ConfigDict(extra="forbid")

    url: str = Field(pattern=r"^https?://[^\s/?#]+/?$")
    database: str = Field(pattern=IDENTIFIER)
    measurement: str = Field(pattern=IDENTIFIER)
    #: The field every record carries: a record is a point with it.
    field: str = Field(pattern=IDENTIFIER)
    #: The tag naming the record's source (the same sources as the processed bucket's).
    sourceTag: str = Field(pattern=IDENTIFIER)
    secretArn: str = Field(pattern=r"^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:\S+$")


def parameter_name(scope: str) -> str:
    return f"/selfheal/data/timeseries/{scope}"


def windows(now: datetime, history_days: int) -> list[tuple[datetime, datetime]]:
    """The last 24 h before `now` (first), then the same 24 h on each previous day."""
    return [(now - DAY * (n + 1), now - DAY * n) for n in range(history_days + 1)]


def _instant(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def count_query(cfg: StoreConfig, spans: list[tuple[datetime, datetime]]) -> str:
    """One InfluxQL statement per window, in order: records per source in [start, end)."""
    return "; ".join(
        f'SELECT count("{cfg.field}") FROM "{cfg.measurement}" '
        f"WHERE time >= '{_instant(start)}' AND time < '{_instant(end)}' "
        f'GROUP BY "{cfg.sourceTag}"'
        for start, end in spans
    )


def per_source(answer: Any, tag: str, n: int) -> dict[str, list[int]]:
    """Records per source per window from the `/query` answer to `count_query` (a source
    with no series in a window had no records there). Raises ValueError on an answer that
    is not one: an error, a missing statement, a row that is not a count."""
    if not isinstance(answer, dict) or "error" in answer:
        raise ValueError(f"the store answered an error: {str(answer)[:300]}")
    results = answer.get("results")
    if not isinstance(results, list) or len(results) != n:
        raise ValueError(f"the store answered {len(results or [])} results for {n} windows")
    counts: dict[str, list[int]] = {}
    for i, result in enumerate(results):
        if "error" in result:
            raise ValueError(f"the store refused the query: {str(result['error'])[:300]}")
        for series in result.get("series", []):
            source = str((series.get("tags") or {}).get(tag) or UNTAGGED)
            column = series["columns"].index("count")
            total = sum(int(row[column] or 0) for row in series["values"])
            counts.setdefault(source, [0] * n)[i] += total
    return counts
