"""In-process wake-ups for long-polls and live views, safe to fire from threads.

A waiter takes the current event for a key *before* it looks at the
database, then awaits it; ``notify`` sets that event and puts a fresh one in
its place, so no wake-up that happens between the look and the wait is lost.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterable


class Wakeups:
    def __init__(self) -> None:
        self._events: dict[str, asyncio.Event] = {}
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._hooks: dict[str, list[Callable[[], None]]] = {}

    def on(self, key: str, hook: Callable[[], None]) -> None:
        """Call ``hook`` (in the notifying thread) whenever ``key`` fires, here or from another replica."""
        self._hooks.setdefault(key, []).append(hook)

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop

    def current(self, key: str) -> asyncio.Event:
        with self._lock:
            event = self._events.get(key)
            if event is None:
                event = self._events[key] = asyncio.Event()
            return event

    def notify(self, keys: Iterable[str]) -> None:
        keys = set(keys)
        for key in keys & self._hooks.keys():
            for hook in self._hooks[key]:
                hook()
        with self._lock:
            fired = [self._events.pop(k) for k in set(keys) if k in self._events]
        if not fired or self._loop is None:
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is self._loop:
            for event in fired:
                event.set()
        elif not self._loop.is_closed():
            for event in fired:
                self._loop.call_soon_threadsafe(event.set)


async def wait(event: asyncio.Event, timeout: float) -> bool:
    """True when woken, False when ``timeout`` seconds passed first."""
    if timeout <= 0:
        return event.is_set()
    try:
        await asyncio.wait_for(event.wait(), timeout)
    except TimeoutError:
        return False
    return True


async def wait_first(events: list[asyncio.Event], timeout: float) -> bool:
    """True when one of ``events`` is set, False when ``timeout`` seconds passed first."""
    waiters = [asyncio.ensure_future(e.wait()) for e in events]
    try:
        done, _ = await asyncio.wait(waiters, timeout=max(timeout, 0), return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()
    return bool(done)
