"""A virtual clock for moto's Step Functions interpreter.

moto really sleeps in Wait states and between retries. The runtime replaces those
two sleeps so that a wait advances virtual time (and lets the simulated world
react) instead of wall time, which lets a 60-minute ladder run in seconds with the
deployed ASL unchanged. `scale` > 0 also sleeps that fraction of the real wait,
for a demo that should feel like time passes.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from unittest import mock

from moto.stepfunctions.parser.asl.component.common.retry import retrier_decl
from moto.stepfunctions.parser.asl.component.state.wait.wait_function.wait_function import (
    WaitFunction,
)

from selfheal_shared import clock as shared_clock


class VirtualClock:
    def __init__(self, start: datetime | None = None, scale: float = 0.0) -> None:
        self._now = start or datetime.now(UTC)
        self._lock = threading.Lock()
        self.scale = scale
        self.listeners: list[Callable[[datetime], None]] = []

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._now += timedelta(seconds=seconds)
            now = self._now
        if self.scale > 0:
            time.sleep(seconds * self.scale)
        for listener in list(self.listeners):
            listener(now)

    @contextmanager
    def installed(self) -> Iterator[VirtualClock]:
        clock = self

        def wait_interval(self: WaitFunction, env: object, wait_seconds: int) -> None:
            clock.advance(max(0, wait_seconds))

        sleeper = SimpleNamespace(sleep=lambda seconds: clock.advance(seconds), time=time.time)
        shared_clock.install(self.now)
        try:
            with mock.patch.object(WaitFunction, "_wait_interval", wait_interval), \
                    mock.patch.object(retrier_decl, "time", sleeper):
                yield self
        finally:
            shared_clock.install(None)
