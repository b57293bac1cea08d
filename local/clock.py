"""A virtual clock for moto's Step Functions interpreter.

moto really sleeps in Wait states and between retries, and times tasks out in real
time. The runtime replaces those sleeps so that time is virtual: a 60-minute ladder
runs in seconds with the deployed ASL unchanged.

Two ways to move time:
- immediate (default): a Wait state advances the clock by its own duration. Simple and
  exact for one workflow at a time.
- scheduler: a Wait state sleeps until virtual time reaches its deadline, and a driver
  thread jumps the clock to the earliest deadline once every running execution is
  asleep (in a Wait, or parked on a callback) and nothing has happened for a short
  real-time settle. Many concurrent workflows (an edge storm) then share one timeline,
  and real MQTT round trips get to finish before time jumps.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any
from unittest import mock

from moto.stepfunctions.parser.asl.component.common.retry import retrier_decl
from moto.stepfunctions.parser.asl.component.state.exec import execute_state
from moto.stepfunctions.parser.asl.component.state.wait.wait_function.wait_function import (
    WaitFunction,
)
from moto.stepfunctions.parser.asl.eval.callback import callback
from moto.stepfunctions.parser.backend.execution_worker import ExecutionWorker
from selfheal_shared import clock as shared_clock

#: Task timeouts shorter than this measure real work (a Lambda running) and stay in
#: real time; longer ones are human gates and callbacks, which follow virtual time.
VIRTUAL_TIMEOUT_FROM_SECONDS = 300


class _VirtualEvent(threading.Event):
    """An Event whose long timed waits end by virtual time, so a 24 h approval gate
    can time out in a test without waiting a day. `parks` marks a callback wait (the
    execution is idle), as opposed to a task's own timeout (it is working)."""

    def __init__(self, clock: VirtualClock, *, parks: bool) -> None:
        super().__init__()
        self._clock = clock
        self._wake = threading.Event()
        self.parks = parks

    def set(self) -> None:
        super().set()
        self._wake.set()

    def wake(self) -> None:
        self._wake.set()

    def wait(self, timeout: float | None = None) -> bool:
        if timeout is None or timeout < VIRTUAL_TIMEOUT_FROM_SECONDS:
            return super().wait(timeout)
        deadline = self._clock.now() + timedelta(seconds=timeout)
        self._clock.park(self)
        try:
            while True:
                if self.is_set():
                    return True
                if self._clock.now() >= deadline:
                    return False
                self._wake.wait(1.0)  # woken by set() or by the clock moving
                self._wake.clear()
        finally:
            self._clock.unpark(self)


class VirtualClock:
    def __init__(
        self,
        start: datetime | None = None,
        scale: float = 0.0,
        *,
        scheduler: bool = False,
        settle_seconds: float = 0.15,
    ) -> None:
        self._now = start or datetime.now(UTC)
        self._cond = threading.Condition()
        self.scale = scale
        self.scheduler = scheduler
        self.settle_seconds = settle_seconds
        self.listeners: list[Callable[[datetime], None]] = []
        self.waiters: set[_VirtualEvent] = set()
        self._sleeping: list[datetime] = []
        self.active_executions = 0
        self._last_change = time.monotonic()
        #: Things outside Step Functions that are still working (the MQTT bridge's inbox);
        #: time does not jump while any of them says it is busy.
        self.busy_probes: list[Callable[[], bool]] = []

    def now(self) -> datetime:
        with self._cond:
            return self._now

    def advance(self, seconds: float) -> None:
        self.advance_to(self.now() + timedelta(seconds=seconds))

    def advance_to(self, when: datetime) -> None:
        with self._cond:
            if when <= self._now:
                return
            seconds = (when - self._now).total_seconds()
            self._now = when
            self._cond.notify_all()
        if self.scale > 0:
            time.sleep(seconds * self.scale)
        for waiter in list(self.waiters):
            waiter.wake()
        for listener in list(self.listeners):
            listener(when)

    # -- scheduler mode ---------------------------------------------------------------

    def sleep(self, seconds: float) -> None:
        """A Wait state in scheduler mode: block until virtual time reaches the deadline."""
        with self._cond:
            deadline = self._now + timedelta(seconds=seconds)
            self._sleeping.append(deadline)
            self._touch()
            try:
                while self._now < deadline:
                    self._cond.wait(0.5)
            finally:
                self._sleeping.remove(deadline)
                self._touch()

    def park(self, event: _VirtualEvent) -> None:
        with self._cond:
            self.waiters.add(event)
            self._touch()

    def unpark(self, event: _VirtualEvent) -> None:
        with self._cond:
            self.waiters.discard(event)
            self._touch()

    def execution_started(self) -> None:
        with self._cond:
            self.active_executions += 1
            self._touch()

    def execution_finished(self) -> None:
        with self._cond:
            self.active_executions -= 1
            self._touch()

    def _touch(self) -> None:
        self._last_change = time.monotonic()
        self._cond.notify_all()

    def next_jump(self) -> datetime | None:
        """The deadline to jump to, if everything is asleep and has been for the settle time."""
        with self._cond:
            asleep = len(self._sleeping) + sum(1 for w in self.waiters if w.parks)
            if not self._sleeping or asleep < self.active_executions:
                return None
            if time.monotonic() - self._last_change < self.settle_seconds:
                return None
            earliest = min(self._sleeping)
        if any(probe() for probe in self.busy_probes):
            self._touch_unlocked()
            return None
        return earliest

    def _touch_unlocked(self) -> None:
        with self._cond:
            self._touch()

    @contextmanager
    def held(self) -> Iterator[None]:
        """Keep virtual time still while a test stages something that happens "at once"
        in reality (200 edges losing their uplink) but takes real seconds to simulate."""
        probe: Callable[[], bool] = lambda: True  # noqa: E731
        self.busy_probes.append(probe)
        try:
            yield
        finally:
            self.busy_probes.remove(probe)
            self._touch_unlocked()

    @contextmanager
    def driving(self) -> Iterator[None]:
        """Run the scheduler's driver thread for the duration of the block."""
        stop = threading.Event()

        def drive() -> None:
            while not stop.wait(0.02):
                when = self.next_jump()
                if when is not None:
                    self.advance_to(when)

        thread = threading.Thread(target=drive, name="virtual-clock-driver", daemon=True)
        thread.start()
        try:
            yield
        finally:
            stop.set()
            thread.join(timeout=2)

    # -- installing into moto ---------------------------------------------------------

    @contextmanager
    def installed(self) -> Iterator[VirtualClock]:
        clock = self

        def wait_interval(self: WaitFunction, env: object, wait_seconds: int) -> None:
            if clock.scheduler:
                clock.sleep(max(0, wait_seconds))
            else:
                clock.advance(max(0, wait_seconds))

        original_start: Callable[[ExecutionWorker], None] = ExecutionWorker.start
        original_entrypoint = ExecutionWorker._get_evaluation_entrypoint
        parsed: dict[str, Any] = {}

        def entrypoint(worker: ExecutionWorker) -> Any:
            # Parsing the ASL costs ~0.15 s per execution; an edge storm starts hundreds.
            # Programs of plain Task/Wait/Choice states keep no state between runs; Map and
            # Parallel ones might, so those are parsed fresh.
            definition = worker._evaluation_details.state_machine_details.definition
            if '"Map"' in definition or '"Parallel"' in definition:
                return original_entrypoint(worker)
            if definition not in parsed:
                parsed[definition] = original_entrypoint(worker)
            return parsed[definition]

        def start(worker: ExecutionWorker) -> None:
            logic: Callable[[], Any] = worker._execution_logic

            def counted() -> Any:
                try:
                    return logic()
                finally:
                    clock.execution_finished()

            clock.execution_started()
            worker._execution_logic = counted  # type: ignore[method-assign]
            original_start(worker)

        retry_sleep = SimpleNamespace(
            sleep=lambda s: clock.sleep(s) if clock.scheduler else clock.advance(s), time=time.time
        )
        threading_shim = SimpleNamespace(Event=lambda: _VirtualEvent(clock, parks=False))
        shared_clock.install(self.now)
        try:
            with (
                mock.patch.object(WaitFunction, "_wait_interval", wait_interval),
                mock.patch.object(retrier_decl, "time", retry_sleep),
                mock.patch.object(execute_state, "threading", threading_shim),
                mock.patch.object(callback, "Event", lambda: _VirtualEvent(clock, parks=True)),
                mock.patch.object(ExecutionWorker, "start", start),
                mock.patch.object(ExecutionWorker, "_get_evaluation_entrypoint", entrypoint),
            ):
                yield self
        finally:
            shared_clock.install(None)
