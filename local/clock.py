"""A virtual clock for moto's Step Functions interpreter.

moto really sleeps in Wait states and between retries, and times tasks out in real
time. The runtime replaces those sleeps so that time is virtual: a 60-minute ladder
runs in seconds with the deployed ASL unchanged.

Time starts at a fixed instant (`DEFAULT_START` unless given), never at the wall clock,
so every run of a test or of the demo sees the same dates.

Two ways to move time:
- immediate (default): a Wait state advances the clock by its own duration. Simple and
  exact for one workflow at a time.
- scheduler: a Wait state sleeps until virtual time reaches its deadline, and a driver
  thread jumps the clock to the earliest deadline the moment nothing is working. That is
  counted, not guessed: every interpreter thread counts as working unless it is blocked in
  a Wait, a callback, a timer or on a child thread, and things outside Step Functions (the
  MQTT bridge, messages in flight, a Lambda called directly) report through `busy()`,
  `busy_probes` and `touch()`. A loaded machine gives the same timeline, only slower.
"""

from __future__ import annotations

import datetime as datetime_module
import logging
import math
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any
from unittest import mock

from moto.core import utils as moto_utils
from moto.stepfunctions.parser import models as sfn_models
from moto.stepfunctions.parser.asl.component.common.retry import retrier_decl
from moto.stepfunctions.parser.asl.component.program import program
from moto.stepfunctions.parser.asl.component.state import state as sfn_state
from moto.stepfunctions.parser.asl.component.state.exec import execute_state
from moto.stepfunctions.parser.asl.component.state.exec.state_map.iteration import (
    inline_iteration_component,
    job,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_parallel import (
    branch_worker,
    branches_decl,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import (
    state_task_service_callback,
)
from moto.stepfunctions.parser.asl.component.state.wait.wait_function import timestamp
from moto.stepfunctions.parser.asl.component.state.wait.wait_function.wait_function import (
    WaitFunction,
)
from moto.stepfunctions.parser.asl.eval.callback import callback
from moto.stepfunctions.parser.asl.eval.event import event_manager
from moto.stepfunctions.parser.backend import execution as sfn_execution
from moto.stepfunctions.parser.backend import execution_worker
from moto.stepfunctions.parser.backend.execution_worker import ExecutionWorker
from selfheal_shared.core import clock as shared_clock

log = logging.getLogger(__name__)

#: Where virtual time starts unless `start` is given: a fixed instant, so dates never depend
#: on when a test runs. Midday in Brasilia (12:00 BRT), ten days from the month's end, hours
#: after the sample events' capture times: far from the day and month boundaries the
#: scheduled jobs and the world's data are cut at.
DEFAULT_START = datetime(2026, 11, 20, 15, 0, tzinfo=UTC)

#: Task timeouts shorter than this measure real work (a Lambda running) and stay in
#: real time; longer ones are human gates and callbacks, which follow virtual time.
VIRTUAL_TIMEOUT_FROM_SECONDS = 300
#: moto's default when a Task gives no TimeoutSeconds (99999999 s): no deadline at all, or
#: an idle scheduler would jump three years to it.
NO_DEADLINE_FROM_SECONDS = 99_999_999
#: The longest step `advance` takes: a Standard workflow runs at most one year (Step
#: Functions quotas), so no Wait, gate or timer of one lies further off; a bigger step is a
#: typo (1e12 s would be past the calendar's year 9999).
MAX_ADVANCE_SECONDS = 365 * 24 * 3600


def check_advance(seconds: float) -> float:
    """`seconds` when the clock can move on by it; else a `ValueError` saying why (the
    control endpoint of `selfheal serve` answers it as a 400)."""
    if not math.isfinite(seconds):
        raise ValueError(f"seconds: a finite number of seconds, not {seconds}")
    if seconds < 0:
        raise ValueError(f"seconds: virtual time never goes back; {seconds:g} < 0")
    if seconds > MAX_ADVANCE_SECONDS:
        raise ValueError(
            f"seconds: at most {MAX_ADVANCE_SECONDS} (a year, the longest a Standard "
            f"workflow runs); {seconds:g} is more"
        )
    return seconds


class _Block:
    """One thread blocked in a counted wait, with the virtual deadline that ends it. Each
    has its own wake-up: hundreds of parked executions must not all wake on every change."""

    __slots__ = ("counted", "deadline", "resumed", "wake")

    def __init__(self, deadline: datetime | None, counted: bool) -> None:
        self.deadline = deadline
        self.counted = counted
        self.resumed = False
        self.wake = threading.Event()


class VirtualClock:
    def __init__(
        self, start: datetime | None = None, scale: float = 0.0, *, scheduler: bool = False
    ) -> None:
        start = start or DEFAULT_START
        if start.tzinfo is None:
            raise ValueError("the clock's start needs a time zone")
        self._now = start.astimezone(UTC)
        self._cond = threading.Condition()
        self.scale = scale
        self.scheduler = scheduler
        self.listeners: list[Callable[[datetime], None]] = []
        #: Lock-free checks of work outside Step Functions (the MQTT bridge's inbox, messages
        #: in flight); whoever owns one calls `touch()` after it changes.
        self.busy_probes: list[Callable[[], bool]] = []
        self._working = 0  # counted threads not blocked, plus open busy() sections
        self._blocks: set[_Block] = set()
        self._timers: list[tuple[datetime, int, Callable[[], None]]] = []
        self._timer_seq = 0
        self._holds = 0
        #: Scheduler mode: the driver never jumps past this instant (`hold_at`).
        self._hold_at: datetime | None = None
        self._generation = 0  # bumped by every change, for waiters
        self._quiet_seen = 0  # bumped every time nothing was working
        self._thread_class = _counted_thread_class(self)

    # -- time ---------------------------------------------------------------------------

    def now(self) -> datetime:
        return self._now  # one reference, replaced whole under the lock: no lock to read it

    def advance(self, seconds: float) -> None:
        self.advance_to(self.now() + timedelta(seconds=check_advance(seconds)))

    def advance_to(self, when: datetime) -> None:
        with self._cond:
            if when <= self._now:
                return
            seconds = (when - self._now).total_seconds()
            due = self._jump_locked(when)
        self._after_jump(when, seconds, due)

    def call_later(self, seconds: float, fn: Callable[[], None]) -> None:
        """Run `fn` once virtual time has moved `seconds` on (a simulated edge's controller
        taking 20 s to restart). A pending timer is a deadline the scheduler jumps to."""
        with self._cond:
            self._timer_seq += 1
            when = self._now + timedelta(seconds=seconds)
            self._timers.append((when, self._timer_seq, fn))
            self._timers.sort(key=lambda t: (t[0], t[1]))
            self._changed_locked()

    def _jump_locked(self, when: datetime) -> list[Callable[[], None]]:
        """Move time and wake what is due, in one step: the woken threads count as working
        before anyone can see the clock quiet. The caller then holds one unit of work, for
        the due timers and the listeners, which `_after_jump` gives back."""
        self._now = max(self._now, when)
        for block in [b for b in self._blocks if b.deadline is not None and b.deadline <= when]:
            self._resume_locked(block)
        due = [fn for at, _, fn in self._timers if at <= self._now]
        self._timers = [t for t in self._timers if t[0] > self._now]
        self._working += 1
        self._changed_locked()
        return due

    def _after_jump(self, when: datetime, seconds: float, due: list[Callable[[], None]]) -> None:
        try:
            if self.scale > 0:
                time.sleep(seconds * self.scale)
            for fn in due:
                fn()
            for listener in list(self.listeners):
                listener(when)
        finally:
            with self._cond:
                self._working -= 1
                self._changed_locked()

    # -- counting ---------------------------------------------------------------------------

    def _counted(self) -> bool:
        return getattr(threading.current_thread(), "selfheal_clock", None) is self

    def _changed_locked(self) -> None:
        self._generation += 1
        if self._quiet_locked():
            self._quiet_seen += 1
        self._cond.notify_all()

    def _quiet_locked(self) -> bool:
        return self._working == 0 and not any(probe() for probe in self.busy_probes)

    def _block_locked(self, deadline: datetime | None) -> _Block:
        block = _Block(deadline, self._counted())
        self._blocks.add(block)
        if block.counted:
            self._working -= 1
        self._changed_locked()
        return block

    def _resume_locked(self, block: _Block) -> None:
        if block.resumed:
            return
        block.resumed = True
        block.wake.set()
        self._blocks.discard(block)
        if block.counted:
            self._working += 1
        self._changed_locked()

    def _resume(self, block: _Block) -> None:
        with self._cond:
            self._resume_locked(block)

    def touch(self) -> None:
        """Something a busy probe looks at changed: wake the driver and the waiters."""
        with self._cond:
            self._changed_locked()

    @contextmanager
    def busy(self) -> Iterator[None]:
        """Work outside the interpreter's threads (a Lambda called directly, a listener):
        time does not jump while it runs."""
        with self._cond:
            self._working += 1
            self._changed_locked()
        try:
            yield
        finally:
            with self._cond:
                self._working -= 1
                self._changed_locked()

    @contextmanager
    def held(self) -> Iterator[None]:
        """Keep virtual time still while a test stages something that happens "at once"
        in reality (200 edges losing their uplink) but takes real seconds to simulate."""
        with self._cond:
            self._holds += 1
        try:
            yield
        finally:
            with self._cond:
                self._holds -= 1
                self._changed_locked()

    def sleep(self, seconds: float) -> None:
        """A Wait state in scheduler mode: block until virtual time reaches the deadline."""
        with self._cond:
            deadline = self._now + timedelta(seconds=seconds)
            if deadline <= self._now:
                return
            block = self._block_locked(deadline)
        try:
            block.wake.wait()  # set by the jump that reaches the deadline
        finally:
            self._resume(block)

    # -- waiting on the runtime (tests, the CLI) ---------------------------------------------

    def quiet(self) -> bool:
        """Nothing is working: every execution is parked or done, nothing is in flight."""
        with self._cond:
            return self._quiet_locked()

    def describe(self) -> str:
        """The counts, for a timeout's message."""
        with self._cond:
            deadlines = sorted(b.deadline for b in self._blocks if b.deadline is not None)
            busy = [getattr(p, "__qualname__", repr(p)) for p in self.busy_probes if p()]
            return (
                f"virtual {self._now.isoformat()}; working {self._working}; "
                f"blocked {len(self._blocks)} (next deadline "
                f"{deadlines[0].isoformat() if deadlines else 'none'}); "
                f"timers {len(self._timers)}; holds {self._holds}; busy probes {busy or 'none'}"
            )

    def quiet_epoch(self) -> int:
        """How many times nothing was working so far (see `wait_quiet`)."""
        with self._cond:
            return self._quiet_seen

    def wait_quiet(self, timeout: float, *, after: int | None = None) -> bool:
        """Until nothing is working, now or at some instant after the call (the driver may
        jump time the moment it is so); with `after` (a `quiet_epoch()`), at an instant
        later than that one. False on timeout."""
        deadline = time.monotonic() + timeout
        with self._cond:
            seen = self._quiet_seen if after is None else after
            while not ((after is None and self._quiet_locked()) or self._quiet_seen > seen):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._cond.wait(min(remaining, 0.5))  # probes that cannot notify
            return True

    def wait_until(self, done: Callable[[], bool], timeout: float, *, pace: float = 0.01) -> bool:
        """Until `done()` (which may call moto) holds, checked again after each change of the
        runtime's state, at most once per `pace` seconds. False on timeout."""
        deadline = time.monotonic() + timeout
        while True:
            with self._cond:
                seen = self._generation
            checked = time.monotonic()
            if done():
                return True
            with self._cond:
                while True:
                    now = time.monotonic()
                    if now >= deadline:
                        return False
                    if self._generation != seen and now >= checked + pace:
                        break
                    wake = deadline if self._generation == seen else checked + pace
                    self._cond.wait(min(wake - now, 0.5))

    # -- scheduler mode ---------------------------------------------------------------

    def _next_jump_locked(self) -> datetime | None:
        if self._holds or not self._quiet_locked():
            return None
        deadlines = [b.deadline for b in self._blocks if b.deadline is not None]
        deadlines += [at for at, _, _ in self._timers]
        when = min(deadlines) if deadlines else None
        if when is not None and self._hold_at is not None and when > self._hold_at:
            return None
        return when

    def hold_at(self, when: datetime | None) -> None:
        """Scheduler mode: run as usual up to `when`, then stand still there (None: go on),
        so a person can act between two steps of a ladder (`selfheal serve --scheduler`)."""
        with self._cond:
            self._hold_at = when
            self._changed_locked()

    def wind_down(self, timeout: float) -> bool:
        """Stand still from now on and let the work under way end: a thread still running
        when its pipeline's moto goes would go on against the next pipeline's moto (a late
        page landing in another test). False if something still works after `timeout`."""
        with self._cond:
            self._hold_at = self._now
            self._holds += 1  # never released: this clock is done
            self._changed_locked()
        return self.wait_quiet(timeout)

    def wait_standing(self, timeout: float) -> bool:
        """Until nothing is working and the driver has nothing it may jump to (every
        execution parked past the hold, or done). False on timeout."""

        def standing() -> bool:
            with self._cond:
                return self._quiet_locked() and self._next_jump_locked() is None

        return self.wait_until(standing, timeout)

    @contextmanager
    def driving(self) -> Iterator[None]:
        """Run the scheduler's driver thread for the duration of the block."""
        stop = threading.Event()

        def drive() -> None:
            while not stop.is_set():
                with self._cond:
                    when = self._next_jump_locked()
                    if when is None:
                        self._cond.wait(0.5)  # woken by every change; the timeout is for `stop`
                        continue
                    seconds = max(0.0, (when - self._now).total_seconds())
                    due = self._jump_locked(when)
                try:
                    self._after_jump(when, seconds, due)
                except Exception:  # a broken timer or listener must not stop time for all
                    log.exception("virtual clock: a timer or listener failed at %s", when)

        thread = threading.Thread(target=drive, name="virtual-clock-driver", daemon=True)
        thread.start()
        try:
            yield
        finally:
            stop.set()
            self.touch()
            thread.join(timeout=5)

    # -- installing into moto ---------------------------------------------------------

    def event(self) -> threading.Event:
        return _CountedEvent(self)

    @contextmanager
    def installed(self) -> Iterator[VirtualClock]:
        clock = self

        def wait_interval(self: WaitFunction, env: object, wait_seconds: int) -> None:
            if clock.scheduler:
                clock.sleep(max(0, wait_seconds))
            else:
                clock.advance(max(0, wait_seconds))

        original_entrypoint = ExecutionWorker._get_evaluation_entrypoint

        def entrypoint(worker: ExecutionWorker) -> Any:
            # Parsing the ASL costs ~0.15 s per execution; an edge storm starts hundreds.
            # Programs of plain Task/Wait/Choice states keep no state between runs; Map and
            # Parallel ones might, so those are parsed fresh.
            definition = worker._evaluation_details.state_machine_details.definition
            if '"Map"' in definition or '"Parallel"' in definition:
                return original_entrypoint(worker)
            with _parsing:  # once, even when a storm starts hundreds at the same moment
                if definition not in _programs:
                    _programs[definition] = original_entrypoint(worker)
            return _programs[definition]

        retry_time = SimpleNamespace(
            sleep=lambda s: clock.sleep(s) if clock.scheduler else clock.advance(s),
            time=lambda: clock.now().timestamp(),
        )
        threads = _ThreadingShim(Thread=self._thread_class, Event=self.event)
        dates = _datetime_shim(self.now)
        patches: list[Any] = [
            mock.patch.object(WaitFunction, "_wait_interval", wait_interval),
            mock.patch.object(retrier_decl, "time", retry_time),
            mock.patch.object(ExecutionWorker, "_get_evaluation_entrypoint", entrypoint),
            # Every thread the interpreter starts is counted; every event it blocks on is a
            # counted (and, past VIRTUAL_TIMEOUT_FROM_SECONDS, virtual) wait.
            mock.patch.object(execution_worker, "Thread", self._thread_class),
            mock.patch.object(execute_state, "Thread", self._thread_class),
            mock.patch.object(callback, "Event", self.event),
            *(
                mock.patch.object(module, "threading", threads)
                for module in (
                    program,
                    execute_state,
                    inline_iteration_component,
                    job,
                    branch_worker,
                    branches_decl,
                    state_task_service_callback,
                )
            ),
            # Execution start/stop dates, history and the context object in virtual time.
            *(
                mock.patch.object(module, "datetime", dates)
                for module in (sfn_models, sfn_execution, event_manager, sfn_state, timestamp)
            ),
        ]
        global _source
        _install_moto_utcnow()
        shared_clock.install(self.now)
        _source = self.now
        try:
            for p in patches:
                p.start()
            yield self
        finally:
            for p in reversed(patches):
                p.stop()
            _source = None
            shared_clock.install(None)


#: Parsed ASL programs by definition, for every pipeline in the process (see `entrypoint`).
_programs: dict[str, Any] = {}
_parsing = threading.Lock()

#: The installed clock's `now`, for moto's own timestamps (LastModified of a Lambda version,
#: an alarm's state time, an object's date): virtual while a pipeline runs.
_source: Callable[[], datetime] | None = None
_real_utcnow = moto_utils.utcnow


def _virtual_utcnow() -> datetime:
    source = _source
    return source().astimezone(UTC).replace(tzinfo=None) if source else _real_utcnow()


def _install_moto_utcnow() -> None:
    """Point moto's `utcnow` at the installed clock, once and for good: moto imports its
    service modules lazily, and those bind `utcnow` by name when they are imported."""
    if moto_utils.utcnow is _virtual_utcnow:
        return
    moto_utils.utcnow = _virtual_utcnow
    for name, module in list(sys.modules.items()):
        if name.startswith("moto.") and getattr(module, "utcnow", None) is _real_utcnow:
            module.utcnow = _virtual_utcnow  # type: ignore[attr-defined]


class _CountedEvent(threading.Event):
    """An Event whose waits are counted as blocked, and whose long timed waits end by virtual
    time, so a 24 h approval gate can time out in a test without waiting a day. `set()` wakes
    the waiters' count at once, before their threads get to run."""

    def __init__(self, clock: VirtualClock) -> None:
        super().__init__()
        self._clock = clock
        self._blocks: list[_Block] = []

    def set(self) -> None:
        with self._clock._cond:
            super().set()
            for block in self._blocks:
                self._clock._resume_locked(block)
            self._clock._changed_locked()

    def wait(self, timeout: float | None = None) -> bool:
        clock = self._clock
        if timeout is not None and timeout >= NO_DEADLINE_FROM_SECONDS:
            timeout = None
        virtual = timeout is not None and timeout >= VIRTUAL_TIMEOUT_FROM_SECONDS
        with clock._cond:
            if self.is_set():
                return True
            deadline = clock._now + timedelta(seconds=timeout) if virtual and timeout else None
            block = clock._block_locked(deadline)
            self._blocks.append(block)
        if deadline is not None:
            try:
                block.wake.wait()  # set() or the jump that reaches the deadline
                return self.is_set()
            finally:
                with clock._cond:
                    clock._resume_locked(block)
                    self._blocks.remove(block)
        try:
            return super().wait(timeout)
        finally:
            with clock._cond:
                clock._resume_locked(block)
                self._blocks.remove(block)


def _counted_thread_class(clock: VirtualClock) -> type[threading.Thread]:
    class CountedThread(threading.Thread):
        """Counts as working from `start()` (in the starting thread, so an execution that
        has not begun to run is already counted) until its target returns; a `join()` on
        it is a counted block that the thread's end wakes."""

        selfheal_clock = clock

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._ended = False
            self._joiners: list[_Block] = []

        def start(self) -> None:
            with clock._cond:
                clock._working += 1
                clock._changed_locked()
            try:
                super().start()
            except BaseException:
                with clock._cond:
                    clock._working -= 1
                    clock._changed_locked()
                raise

        def run(self) -> None:
            try:
                super().run()
            finally:
                with clock._cond:
                    self._ended = True
                    for block in self._joiners:
                        clock._resume_locked(block)
                    clock._working -= 1
                    clock._changed_locked()

        def join(self, timeout: float | None = None) -> None:
            with clock._cond:
                block = None if self._ended else clock._block_locked(None)
                if block is not None:
                    self._joiners.append(block)
            try:
                super().join(timeout)
            finally:
                if block is not None:
                    with clock._cond:
                        clock._resume_locked(block)
                        self._joiners.remove(block)

    return CountedThread


class _ThreadingShim:
    """The `threading` module as moto's interpreter modules see it: counted threads and
    events, everything else the real thing."""

    def __init__(self, **overrides: Any) -> None:
        self.__dict__.update(overrides)

    def __getattr__(self, name: str) -> Any:
        return getattr(threading, name)


def _datetime_shim(now: Callable[[], datetime]) -> SimpleNamespace:
    """The `datetime` module with `datetime.now()` on the virtual clock."""

    class VirtualDatetime(datetime):
        @classmethod
        def now(cls, tz: datetime_module.tzinfo | None = None) -> datetime:  # type: ignore[override]
            at = now()
            return at.astimezone(tz) if tz is not None else at.replace(tzinfo=None)

    return SimpleNamespace(**{**vars(datetime_module), "datetime": VirtualDatetime})
