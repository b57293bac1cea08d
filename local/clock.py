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
from moto.stepfunctions.parser.asl.component.state.exec import execute_state
from moto.stepfunctions.parser.asl.component.state.wait.wait_function.wait_function import (
    WaitFunction,
)
from moto.stepfunctions.parser.asl.eval.callback import callback
from selfheal_shared import clock as shared_clock

#: Task timeouts shorter than this measure real work (a Lambda running) and stay in
#: real time; longer ones are human gates and callbacks, which follow virtual time.
VIRTUAL_TIMEOUT_FROM_SECONDS = 300


class _VirtualEvent(threading.Event):
    """An Event whose long timed waits end by virtual time, so a 24 h approval gate
    can time out in a test without waiting a day."""

    def __init__(self, clock: VirtualClock) -> None:
        super().__init__()
        self._clock = clock
        self._wake = threading.Event()

    def set(self) -> None:
        super().set()
        self._wake.set()

    def wake(self) -> None:
        self._wake.set()

    def wait(self, timeout: float | None = None) -> bool:
        if timeout is None or timeout < VIRTUAL_TIMEOUT_FROM_SECONDS:
            return super().wait(timeout)
        deadline = self._clock.now() + timedelta(seconds=timeout)
        self._clock.waiters.add(self)
        try:
            while True:
                if self.is_set():
                    return True
                if self._clock.now() >= deadline:
                    return False
                self._wake.wait(1.0)  # woken by set() or by the clock moving
                self._wake.clear()
        finally:
            self._clock.waiters.discard(self)


class VirtualClock:
    def __init__(self, start: datetime | None = None, scale: float = 0.0) -> None:
        self._now = start or datetime.now(UTC)
        self._lock = threading.Lock()
        self.scale = scale
        self.listeners: list[Callable[[datetime], None]] = []
        self.waiters: set[_VirtualEvent] = set()

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._now += timedelta(seconds=seconds)
            now = self._now
        if self.scale > 0:
            time.sleep(seconds * self.scale)
        for waiter in list(self.waiters):
            waiter.wake()
        for listener in list(self.listeners):
            listener(now)

    @contextmanager
    def installed(self) -> Iterator[VirtualClock]:
        clock = self

        def wait_interval(self: WaitFunction, env: object, wait_seconds: int) -> None:
            clock.advance(max(0, wait_seconds))

        sleeper = SimpleNamespace(sleep=lambda seconds: clock.advance(seconds), time=time.time)
        threading_shim = SimpleNamespace(Event=lambda: _VirtualEvent(clock))
        shared_clock.install(self.now)
        try:
            with (
                mock.patch.object(WaitFunction, "_wait_interval", wait_interval),
                mock.patch.object(retrier_decl, "time", sleeper),
                mock.patch.object(execute_state, "threading", threading_shim),
                mock.patch.object(callback, "Event", lambda: _VirtualEvent(clock)),
            ):
                yield self
        finally:
            shared_clock.install(None)
