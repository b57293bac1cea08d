"""Reads of a scope's time-series store (the I/O beside `records`' pure logic): its
registration from Parameter Store, its read-only credentials from Secrets Manager, and one
`/query` over HTTP with the standard library. Every way of not getting an answer is
`StoreUnavailable`, saying which: the integrity check then says "cannot verify"."""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.parse
import urllib.request
from datetime import datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from ..core.clients import client
from ..core.errors import InputInvalid
from ..core.models import parse
from . import records

TIMEOUT_SECONDS = 20.0


class StoreUnavailable(Exception):
    """The records could not be counted; the message says why (for the record and page)."""


def config(scope: str) -> records.StoreConfig:
    name = records.parameter_name(scope)
    try:
        text = client("ssm").get_parameter(Name=name)["Parameter"]["Value"]
        return parse(records.StoreConfig, json.loads(text), f"time-series store {name}")
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        if code == "ParameterNotFound":
            raise StoreUnavailable(f"scope {scope!r} has no time-series store registered "
                                   f"({name})") from None  # fmt: skip
        raise StoreUnavailable(f"reading {name}: {code}: {exc}") from None
    except BotoCoreError as exc:
        raise StoreUnavailable(f"reading {name}: {exc}") from None
    except (ValueError, InputInvalid) as exc:
        raise StoreUnavailable(f"{name} is not a valid registration: {exc}") from None


def _credentials(secret_arn: str) -> tuple[str, str]:
    try:
        secret = json.loads(
            client("secretsmanager").get_secret_value(SecretId=secret_arn)["SecretString"]
        )
        return str(secret["username"]), str(secret["password"])
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        raise StoreUnavailable(f"reading the store's secret: {code}") from None
    except BotoCoreError as exc:
        raise StoreUnavailable(f"reading the store's secret: {exc}") from None
    except (ValueError, KeyError, TypeError):
        raise StoreUnavailable(
            "the store's secret is not JSON with a username and a password"
        ) from None


def _query(cfg: records.StoreConfig, user: str, password: str, q: str) -> Any:
    body = urllib.parse.urlencode({"db": cfg.database, "q": q}).encode()
    req = urllib.request.Request(f"{cfg.url.rstrip('/')}/query", data=body, method="POST")
    # Basic auth, never `u=`/`p=` in the URL: a URL ends up in access logs.
    req.add_header(
        "Authorization", "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
    )
    req.add_header("Content-Type", "application/x-www-form-urlencoded")
    try:
        with urllib.request.urlopen(req, timeout=TIMEOUT_SECONDS) as resp:
            return json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        detail = exc.read()[:300].decode(errors="replace")
        raise StoreUnavailable(f"the store at {cfg.url} answered {exc.code}: {detail}") from None
    except (OSError, ValueError) as exc:  # refused, timed out, DNS, not JSON
        raise StoreUnavailable(f"the store at {cfg.url} did not answer: {exc}") from None


def count_records(
    scope: str, now: datetime, history_days: int
) -> tuple[records.StoreConfig, list[tuple[datetime, datetime]], dict[str, list[int]]]:
    """Records per source in the last 24 h before `now` and the same 24 h of each of the
    `history_days` days before: the registration used, the windows, the counts."""
    cfg = config(scope)
    user, password = _credentials(cfg.secretArn)
    spans = records.windows(now, history_days)
    answer = _query(cfg, user, password, records.count_query(cfg, spans))
    try:
        return cfg, spans, records.per_source(answer, cfg.sourceTag, len(spans))
    except (ValueError, KeyError, TypeError) as exc:
        raise StoreUnavailable(f"the store at {cfg.url}: {exc}") from None


def health(scope: str) -> str:
    """Runbook 001 "Testar conectividade" (`handler.health_check()`): the store's `/ping`
    answering 204, then one authenticated read of its database with the scope's own
    credentials (the path a write takes: the network, the server, the user). Returns what
    answered; raises StoreUnavailable saying what did not."""
    cfg = config(scope)
    user, password = _credentials(cfg.secretArn)
    try:
        req = urllib.request.Request(f"{cfg.url.rstrip('/')}/ping", method="GET")
        with urllib.request.urlopen(req, timeout=TIMEOUT_SECONDS) as resp:
            status = resp.status
            version = resp.headers.get("X-Influxdb-Version", "unknown")
    except urllib.error.HTTPError as exc:
        raise StoreUnavailable(f"the store at {cfg.url} answered /ping {exc.code}") from None
    except OSError as exc:
        raise StoreUnavailable(f"the store at {cfg.url} did not answer: {exc}") from None
    if status != 204:
        raise StoreUnavailable(f"the store at {cfg.url} answered /ping {status}")
    answer = _query(cfg, user, password, "SHOW MEASUREMENTS LIMIT 1")
    if not isinstance(answer, dict) or any("error" in r for r in answer.get("results", [])):
        raise StoreUnavailable(f"the store at {cfg.url} refused a read: {str(answer)[:300]}")
    return f"{cfg.url} answered /ping 204 (InfluxDB {version}) and a read of {cfg.database}"
