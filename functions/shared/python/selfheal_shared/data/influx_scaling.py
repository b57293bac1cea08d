"""Time-series write failures (runbook 001 "Falhas de Escrita no InfluxDB", D4): the
incident, where the Timestream for InfluxDB instance behind a database is registered, and
the one scaling step the runbook allows ("Escalar instância do InfluxDB": the next instance
class, `--apply-immediately`), pure. No I/O here.

The alarm names the database (`AWS/Timestream InfluxDB_WriteLatency`, dimension
`DatabaseName`); `/selfheal/data/influxdb/<DatabaseName>` says which instance serves it and
which ingestion scope's store (`records.parameter_name`) a connectivity check reads.
Scaling only goes up the ladder, one step per incident, and only after a person approved
it with the figures in front of them."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

AUTOMATION = "influx_write_failures"
DIMENSION = "DatabaseName"
#: The classes the runbook scales through, smallest first (`db.influx.large` → `xlarge`);
#: the same order as AWS's DbInstanceType. Never down, never more than one step.
LADDER: tuple[str, ...] = (
    "db.influx.medium",
    "db.influx.large",
    "db.influx.xlarge",
    "db.influx.2xlarge",
    "db.influx.4xlarge",
    "db.influx.8xlarge",
    "db.influx.12xlarge",
    "db.influx.16xlarge",
    "db.influx.24xlarge",
)
#: Runbook 001 step 1: the last hour of latency, 5-minute periods, Average and Maximum.
LOOKBACK_MINUTES = 60
PERIOD_SECONDS = 300
#: The write latency alarm's threshold (ms, 5-minute Average; events/alarms/
#: ons-influxdb-write-latency.json): a WriteErrors alarm with the last period under it is
#: not a load a larger class would take away.
LATENCY_THRESHOLD_MS = 1000.0
LATENCY_METRIC = "InfluxDB_WriteLatency"
#: After the update: one check a minute (the workflow's Wait), at most this many.
WATCH_CHECKS = 45
IDENTIFIER = r"^[a-zA-Z0-9]{3,64}$"
NAME = r"^[A-Za-z0-9_][A-Za-z0-9_.:-]{0,127}$"


class InstanceRegistration(BaseModel):
    """`/selfheal/data/influxdb/<DatabaseName>` (JSON)."""

    model_config = ConfigDict(extra="forbid")

    #: The Timestream for InfluxDB instance id (GetDbInstance/UpdateDbInstance `identifier`).
    instanceId: str = Field(pattern=IDENTIFIER)
    #: The ingestion scope whose time-series store registration the health check uses.
    scope: str = Field(pattern=NAME)


class InfluxIncident(BaseModel):
    model_config = ConfigDict(extra="forbid")

    incidentId: str = Field(min_length=1, max_length=128)
    executionId: str = Field(min_length=1)
    database: str = Field(pattern=NAME)
    instanceId: str = Field(pattern=IDENTIFIER)
    scope: str = Field(pattern=NAME)
    #: The alarm that opened the incident: the one that must return to OK.
    alarmName: str = Field(min_length=1, max_length=255)
    reason: str = Field(max_length=500)


def parameter_name(database: str) -> str:
    return f"/selfheal/data/influxdb/{database}"


def next_class(current: str) -> str | None:
    """One step up the ladder; None at its top or for a class not on it (never guessed)."""
    if current not in LADDER:
        return None
    i = LADDER.index(current)
    return LADDER[i + 1] if i + 1 < len(LADDER) else None


def latency_summary(points: list[dict[str, Any]]) -> dict[str, Any]:
    """GetMetricStatistics' datapoints, oldest first, with the hour's worst figures."""
    rows = sorted(
        (
            {
                "at": p["Timestamp"].isoformat(),
                "average": round(float(p["Average"]), 1),
                "maximum": round(float(p["Maximum"]), 1),
            }
            for p in points
        ),
        key=lambda r: str(r["at"]),
    )
    return {
        "periods": rows,
        "worstAverage": max((r["average"] for r in rows), default=None),
        "worstMaximum": max((r["maximum"] for r in rows), default=None),
    }


def latency_text(summary: dict[str, Any]) -> str:
    if not summary["periods"]:
        return "no write latency published in the last hour"
    last = summary["periods"][-1]
    return (
        f"write latency over the last hour: {len(summary['periods'])} periods of 5 min, "
        f"worst average {summary['worstAverage']} ms, worst maximum "
        f"{summary['worstMaximum']} ms, last average {last['average']} ms"
    )
