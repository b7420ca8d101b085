"""In-process wake-ups for long-polls (server.services.wakeups)."""

from __future__ import annotations

import asyncio
import threading
import time

from calchub.server.services.wakeups import Wakeups, wait


def test_a_notify_between_looking_and_waiting_is_not_lost() -> None:
    async def scenario() -> bool:
        wakeups = Wakeups()
        wakeups.bind(asyncio.get_running_loop())
        event = wakeups.current("claim:1")
        wakeups.notify(["claim:1"])  # lands after the look, before the wait
        return await wait(event, 5.0)

    started = time.monotonic()
    assert asyncio.run(scenario()) is True
    assert time.monotonic() - started < 1.0


def test_a_notify_from_another_thread_wakes_the_waiter() -> None:
    async def scenario() -> tuple[bool, float]:
        wakeups = Wakeups()
        wakeups.bind(asyncio.get_running_loop())
        event = wakeups.current("terminal")
        thread = threading.Timer(0.05, wakeups.notify, args=[["terminal", "other"]])
        started = time.monotonic()
        thread.start()
        woken = await wait(event, 10.0)
        thread.join()
        return woken, time.monotonic() - started

    woken, took = asyncio.run(scenario())
    assert woken
    assert took < 5.0


def test_a_fresh_event_follows_each_notify_and_other_keys_sleep_on() -> None:
    async def scenario() -> None:
        wakeups = Wakeups()
        wakeups.bind(asyncio.get_running_loop())
        first = wakeups.current("a")
        assert wakeups.current("a") is first
        other = wakeups.current("b")
        wakeups.notify(["a"])
        assert first.is_set()
        assert not other.is_set()
        second = wakeups.current("a")
        assert second is not first and not second.is_set()
        assert await wait(second, 0.01) is False
        wakeups.notify(["never-waited-on"])  # nothing to wake is fine

    asyncio.run(scenario())


def test_wait_with_no_time_left_only_looks() -> None:
    async def scenario() -> tuple[bool, bool]:
        idle, woken = asyncio.Event(), asyncio.Event()
        woken.set()
        return await wait(idle, 0), await wait(woken, -1)

    assert asyncio.run(scenario()) == (False, True)
