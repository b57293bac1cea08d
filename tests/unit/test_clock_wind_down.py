"""A pipeline's clock winds down before its moto goes: no thread of one test's pipeline
may go on against the next test's moto (CI once saw a late page land in another test)."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

from local.clock import VirtualClock

START = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


def test_a_wound_down_clock_never_jumps_to_a_parked_wait() -> None:
    clock = VirtualClock(START, scheduler=True)
    woke: list[datetime] = []

    def wait_state() -> None:
        clock.sleep(600)
        woke.append(clock.now())

    with clock.driving():
        with clock.held():  # parked before the driver may jump
            thread = clock._thread_class(target=wait_state, daemon=True)
            thread.start()
            assert clock.wait_quiet(30)
        assert clock.wind_down(timeout=30)
        # Nothing is working and the driver has nothing it may jump to: the Wait stays parked.
        assert clock.wait_standing(timeout=30)
        assert clock.now() == START and woke == []


def test_wind_down_waits_for_the_work_under_way() -> None:
    clock = VirtualClock(START, scheduler=True)
    release = threading.Event()
    done: list[str] = []

    def task() -> None:
        release.wait()  # a real (uncounted) wait: the thread is working all along
        done.append("escalated")

    with clock.driving():
        clock._thread_class(target=task, daemon=True).start()
        assert not clock.wind_down(timeout=0.2)  # still working: it cannot be done
        release.set()
        assert clock.wind_down(timeout=30)
        assert done == ["escalated"]
