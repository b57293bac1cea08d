"""The writer the platform's loader uses for the time-series store (runbook 001
"Implementar escrita em lote com retry": `write_points(points, batch_size=1000)`, retried
with exponential backoff).

Retries are urllib3's own (`Retry`: connection refused, 5xx, 429, with exponential backoff
and `Retry-After`), never a sleep loop written here or in a workflow. A retried batch
cannot double a point: InfluxDB keys a point by measurement, tag set and timestamp, and a
second write of the same point overwrites it, so every line must carry its own timestamp
(a line without one would get the server's clock on each attempt: refused here).

The endpoint is InfluxDB's `/write` (1.x, and Timestream for InfluxDB 2.x's v1-compatibility
API, a database being a bucket mapped by DBRP, basic auth with a v1 user and its token); the
2.x native `/api/v2/write?org=&bucket=` with `Authorization: Token` takes the same line
protocol."""

from __future__ import annotations

import base64
import json
import sys
import time
import urllib.parse
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import urllib3
from urllib3.util.retry import Retry

BATCH_SIZE = 1000
RETRIES = 5
#: urllib3 2.x sleeps nothing before the first retry, then backoff_factor * 2 ** (n - 1)
#: after the n-th consecutive failure: 0, 1, 2, 4, 8 s for the 5 retries.
BACKOFF_FACTOR = 0.5
RETRY_STATUS = frozenset({429, 500, 502, 503, 504})
#: The metric the `ons-influxdb-write-errors` alarm reads (events/alarms/): one per batch
#: the writer gave up on, per database.
ERRORS_NAMESPACE = "DataPlatform/TimeSeries"
ERRORS_METRIC = "WriteErrors"


def emit_write_error(database: str) -> str:
    """One EMF line on stdout (CloudWatch Logs turns it into the metric): a batch lost after
    its retries. Returned for the caller's own log too."""
    line = json.dumps(
        {
            "_aws": {
                "Timestamp": int(time.time() * 1000),
                "CloudWatchMetrics": [
                    {
                        "Namespace": ERRORS_NAMESPACE,
                        "Dimensions": [["DatabaseName"]],
                        "Metrics": [{"Name": ERRORS_METRIC, "Unit": "Count"}],
                    }
                ],
            },
            "DatabaseName": database,
            ERRORS_METRIC: 1,
        }
    )
    print(line, file=sys.stdout, flush=True)
    return line


class WriteFailed(Exception):
    """A batch was not accepted after every retry; `written` points landed before it."""

    def __init__(self, message: str, written: int) -> None:
        super().__init__(message)
        self.written = written


def _retry_policy(
    retries: int,
    backoff: float,
    on_retry: Callable[[int], None] | None,
    on_backoff: Callable[[float], None] | None = None,
) -> Retry:
    class _Retry(Retry):
        def sleep(self, response: Any = None) -> None:
            if on_retry is not None:
                on_retry(len(self.history))
            if on_backoff is not None:
                on_backoff(self.get_backoff_time())
            super().sleep(response)

    return _Retry(
        total=retries,
        connect=retries,
        read=retries,
        status=retries,
        status_forcelist=RETRY_STATUS,
        allowed_methods=frozenset({"POST"}),  # safe: a point written twice is one point
        backoff_factor=backoff,
        respect_retry_after_header=True,
        raise_on_status=False,
    )


def _timestamped(line: str) -> bool:
    return line.rsplit(" ", 1)[-1].isdigit() and line.count(" ") >= 2


@dataclass
class TimeSeriesWriter:
    url: str
    database: str
    username: str
    password: str
    batch_size: int = BATCH_SIZE
    retries: int = RETRIES
    backoff_factor: float = BACKOFF_FACTOR
    timeout_seconds: float = 10.0
    #: Called before each backoff sleep with the number of failed attempts so far.
    on_retry: Callable[[int], None] | None = None
    #: Called with each backoff urllib3 is about to sleep (seconds).
    on_backoff: Callable[[float], None] | None = None
    #: Called with each batch's size before it is sent.
    on_batch: Callable[[int], None] | None = None

    def write(self, lines: Sequence[str]) -> int:
        """Write line-protocol points (nanosecond timestamps) in batches; returns how many
        were written. Raises WriteFailed after the retries of a batch are spent."""
        bad = next((n for n, line in enumerate(lines) if not _timestamped(line)), None)
        if bad is not None:
            raise ValueError(f"lines[{bad}]: a point needs its own timestamp to be retried")
        http = urllib3.PoolManager(
            retries=_retry_policy(
                self.retries, self.backoff_factor, self.on_retry, self.on_backoff
            ),
            timeout=urllib3.Timeout(total=self.timeout_seconds),
        )
        token = base64.b64encode(f"{self.username}:{self.password}".encode()).decode()
        query = urllib.parse.urlencode({"db": self.database, "precision": "ns"})
        written = 0
        for start in range(0, len(lines), self.batch_size):
            batch = lines[start : start + self.batch_size]
            if self.on_batch is not None:
                self.on_batch(len(batch))
            try:
                resp = http.request(
                    "POST",
                    f"{self.url.rstrip('/')}/write?{query}",
                    body="\n".join(batch).encode(),
                    headers={"Authorization": f"Basic {token}"},
                )
            except urllib3.exceptions.HTTPError as exc:
                emit_write_error(self.database)
                raise WriteFailed(f"batch {start // self.batch_size + 1}: {exc}", written) from None
            if resp.status != 204:
                # A 400 (partial write: some lines refused) counts too: points were lost.
                emit_write_error(self.database)
                raise WriteFailed(
                    f"batch {start // self.batch_size + 1}: the store answered {resp.status}: "
                    f"{resp.data[:300].decode(errors='replace')}",
                    written,
                )
            written += len(batch)
        return written
