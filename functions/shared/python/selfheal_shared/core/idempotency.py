"""Powertools idempotency (DynamoDB) without its import-time cost.

Powertools' `DynamoDBPersistenceLayer` builds a boto3 client in `__init__`, i.e. when the
handler module is imported: ~90 ms of every cold start (and of every process that imports
the handler), before any event arrives. The layer here takes the shared factory's client
on its first idempotent call instead, so tests and the local runtime swap it like any other.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar, cast

from aws_lambda_powertools.utilities.idempotency import (
    BasePersistenceLayer,
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
)
from aws_lambda_powertools.utilities.idempotency import (
    idempotent_function as _idempotent_function,
)

from .clients import client as _client

F = TypeVar("F", bound=Callable[..., Any])

# What `__init__` stores as the client. Powertools then tags the client's user agent with
# "idempotency" through `client.meta`; this stand-in has none, so that tag is skipped.
_PENDING = object()


class LazyDynamoDBPersistenceLayer(DynamoDBPersistenceLayer):
    """`DynamoDBPersistenceLayer` whose client is `clients.client("dynamodb")`, made on use."""

    def __init__(self, *, table_name: str, key_attr: str = "id") -> None:
        self._initialised = False
        super().__init__(table_name=table_name, key_attr=key_attr, boto3_client=_PENDING)
        self._initialised = True

    @property
    def client(self) -> Any:
        return _client("dynamodb") if self._initialised else _PENDING

    @client.setter
    def client(self, value: Any) -> None:
        """Ignored: the parent's `__init__` assigns the stand-in; the factory owns the client."""


def idempotent_function(
    *,
    data_keyword_argument: str,
    persistence_store: BasePersistenceLayer,
    config: IdempotencyConfig,
) -> Callable[[F], F]:
    """Powertools' `idempotent_function` with a type: its own returns `Any`, which would
    leave the decorated function untyped."""
    return cast(
        Callable[[F], F],
        _idempotent_function(
            data_keyword_argument=data_keyword_argument,
            persistence_store=persistence_store,
            config=config,
        ),
    )
